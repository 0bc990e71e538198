//! Request and response bodies (the subset of the OpenAI API that sampling and judging need).
//! Unknown response fields are ignored, so servers that add fields (vLLM, SGLang) still parse.

use serde::{Deserialize, Serialize};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text. Servers may send `null` for an empty assistant message.
    #[serde(default)]
    pub content: Option<String>,
}

impl ChatMessage {
    /// A user message.
    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: "user".into(),
            content: Some(content.into()),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: "system".into(),
            content: Some(content.into()),
        }
    }
}

/// The sampling fields both endpoints share. `None` fields are not sent (server defaults apply).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// Number of choices to sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Maximum new tokens per choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// Sampling seed (honoured by vLLM, SGLang and llama-server; best effort on OpenAI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// `POST /v1/chat/completions` body. `None` fields are not sent (server defaults apply).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// How to sample (flattened into the body).
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// `POST /v1/completions` body (raw prompt, no chat template).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionRequest {
    /// Model name.
    pub model: String,
    /// The prompt text.
    pub prompt: String,
    /// How to sample (flattened into the body).
    #[serde(flatten)]
    pub sampling: Sampling,
    /// Number of top log-probabilities per token to return.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
}

/// Token accounting, when the server reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Sum of both.
    #[serde(default)]
    pub total_tokens: u64,
}

/// One sampled chat answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Index among the `n` choices.
    #[serde(default)]
    pub index: u32,
    /// The assistant message.
    pub message: ChatMessage,
    /// `stop`, `length`, … when reported.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// `/v1/chat/completions` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Response id.
    #[serde(default)]
    pub id: Option<String>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// The choices, in index order as sent.
    pub choices: Vec<ChatChoice>,
    /// Token accounting.
    #[serde(default)]
    pub usage: Option<Usage>,
}

impl ChatResponse {
    /// The text of the first choice (empty if the server sent none).
    pub fn first_text(&self) -> &str {
        self.choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .unwrap_or("")
    }
}

/// One sampled completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// Index among the `n` choices.
    #[serde(default)]
    pub index: u32,
    /// The generated text.
    pub text: String,
    /// `stop`, `length`, … when reported.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Log-probabilities as the server sent them (their layout differs between servers).
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
}

/// `/v1/completions` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionResponse {
    /// Response id.
    #[serde(default)]
    pub id: Option<String>,
    /// The model that answered.
    #[serde(default)]
    pub model: Option<String>,
    /// The choices.
    pub choices: Vec<CompletionChoice>,
    /// Token accounting.
    #[serde(default)]
    pub usage: Option<Usage>,
}
