//! The LLM judge behind an OpenAI-compatible endpoint: aha-reflect's [`JudgeBackend`] over an
//! [`aha_openai::Client`] (aha-reflect holds the prompts, parsing, cache and runner, and stays
//! free of HTTP).

use aha_openai::{ChatMessage, ChatRequest, Client, Sampling};
use aha_reflect::judge::{JudgeBackend, JudgePrompt, STUDY_JUDGE_TEMPERATURE};

/// A judge model served by an OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct OpenAiJudge {
    /// The client (its config sets concurrency, retries, timeouts).
    pub client: Client,
    /// The judge model name.
    pub model: String,
}

impl JudgeBackend for OpenAiJudge {
    fn ask_many(
        &self,
        prompts: &[JudgePrompt],
        done: &mut dyn FnMut(usize, &std::result::Result<String, String>),
    ) -> Vec<std::result::Result<String, String>> {
        let reqs: Vec<ChatRequest> = prompts
            .iter()
            .map(|p| ChatRequest {
                model: self.model.clone(),
                messages: vec![ChatMessage::user(p.text.clone())],
                sampling: Sampling {
                    temperature: Some(STUDY_JUDGE_TEMPERATURE),
                    max_tokens: Some(p.max_tokens),
                    ..Default::default()
                },
            })
            .collect();
        let text = |r: &aha_openai::Result<aha_openai::ChatResponse>| {
            r.as_ref()
                .map(|resp| resp.first_text().to_string())
                .map_err(|e| e.to_string())
        };
        self.client
            .chat_many(&reqs, |j, r| done(j, &text(r)))
            .iter()
            .map(text)
            .collect()
    }
}
