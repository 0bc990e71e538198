//! The study's prompt templates, exact to the byte (docs/study.md, "Prompt templates"), and user
//! templates.
//!
//! Each template declares how its answer is extracted ([`AnswerFormat`]), the stop strings the
//! upstream code sampled with, and whether `<think>` is prefilled (the R1 format reward then
//! expects the response to start inside the think block).

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::problem::{Gold, Problem};

/// Where a template asks the model to put its final answer (the grading contract's type, owned
/// by aha-verify, which also maps it to extraction options).
pub use aha_verify::AnswerFormat;

/// A rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Raw text to complete, used verbatim (no BOS or chat markup added by the template).
    Text(String),
    /// One user message, to be rendered by the model's own chat template (tokenizer side, with
    /// the generation prompt appended).
    Chat {
        /// The user message.
        user: String,
    },
}

impl Prompt {
    /// The raw text of a [`Prompt::Text`]; `None` for a chat prompt.
    pub fn text(&self) -> Option<&str> {
        match self {
            Prompt::Text(t) => Some(t),
            Prompt::Chat { .. } => None,
        }
    }
}

const R1_PAPER_HEAD: &str = "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. The Assistant first thinks about the reasoning process in the mind and then provides the User with the answer. The reasoning process is enclosed within <think> </think> and answer is enclosed within <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.\nUser: ";
const R1_BLOG_HEAD: &str = "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: ";
const QWEN_MATH_HEAD: &str = "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>user\n";
const QWEN_MATH_TAIL: &str = "<|im_end|>\n<|im_start|>assistant";
const COUNTDOWN_HEAD: &str = "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\nUser: Using the numbers ";
const COUNTDOWN_TAIL: &str = ". You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.\nAssistant: Let me solve this step by step.\n<think>";
/// The instruction `U:evaluate_model.py` appends for chat-template models (docs/study.md, "Prompt
/// templates"; `U:` = sail-sg/understand-r1-zero, `OZ:` = sail-sg/oat-zero, as in its "Sources").
const CHAT_SUFFIX: &str =
    "\nPlease reason step by step, and put your final answer within \\boxed{}.\n\n";
/// OAT's Countdown stop strings for Qwen, from the blog's Countdown run (docs/study.md, "Prompt
/// templates").
const COUNTDOWN_STOP: &[&str] = &["</s>", "<|im_end|>", "<|endoftext|>", "\nUser:"];

/// The placeholder a user template must contain.
pub const QUESTION_PLACEHOLDER: &str = "{question}";

/// A prompt template.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Template {
    /// Paper-era R1 template (`U:train_zero_math.py`): `...\nUser: {q}\nAssistant: <think>`,
    /// `<think>` prefilled; stops at `</answer>`, which stays in the output.
    R1,
    /// Blog-era R1-Zero template (`OZ:data/math_train_500_r1.json`): `... User: {q}. Assistant:`
    /// (". " even after a "?"); no stop strings, as in the blog's sampling.
    R1Blog,
    /// Paper-era Qwen-Math chat markup, ending `<|im_start|>assistant\n`; boxed answer.
    QwenMath,
    /// Blog-era Qwen-Math (`OZ:data/math_train_500.json`): no newline after `assistant`.
    QwenMathBlog,
    /// No template: the question verbatim (paper "Template 3"); boxed answer.
    None,
    /// TinyZero's base-model Countdown prompt, rendered from the problem's
    /// [`Gold::Countdown`]; ends `Assistant: Let me solve this step by step.\n<think>`.
    Countdown,
    /// The model's own chat template with one user message: the question plus the
    /// "reason step by step ... \boxed{}" instruction of `U:evaluate_model.py`.
    Chat,
    /// A user template read from a file.
    User(UserTemplate),
}

/// A user-supplied template: text with a `{question}` placeholder (Countdown data may also use
/// `{target}` and `{numbers}`). Nothing else in the text is interpreted, so literal braces such
/// as `\boxed{}` are safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserTemplate {
    /// A name for reports (the file stem).
    pub name: String,
    /// The template text.
    pub text: String,
    /// How the answer is extracted: `AnswerTag` when the text mentions `<answer>`, else `Boxed`.
    pub answer_format: AnswerFormat,
    /// Stop strings: `</answer>` (kept in the output) for the answer-tag format, else none.
    pub stop: Vec<String>,
    /// Whether the text ends with `<think>` (optionally followed by a newline).
    pub prefilled_think: bool,
}

impl UserTemplate {
    /// Builds a user template from its text, inferring format, stops and prefill (see the
    /// fields). Fails when `{question}` is missing.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Result<UserTemplate> {
        let (name, text) = (name.into(), text.into());
        let countdown = text.contains("{numbers}") || text.contains("{target}");
        if !text.contains(QUESTION_PLACEHOLDER) && !countdown {
            return Err(Error::Template(format!(
                "{name}: the template has no {QUESTION_PLACEHOLDER} placeholder"
            )));
        }
        let tag = text.contains("<answer>");
        Ok(UserTemplate {
            answer_format: if tag {
                AnswerFormat::AnswerTag
            } else {
                AnswerFormat::Boxed
            },
            stop: if tag {
                vec!["</answer>".into()]
            } else {
                Vec::new()
            },
            prefilled_think: text.trim_end_matches('\n').ends_with("<think>"),
            name,
            text,
        })
    }
}

/// The built-in template names, as accepted by [`Template::from_name`].
pub const TEMPLATE_NAMES: &[&str] = &[
    "r1",
    "r1-blog",
    "qwen-math",
    "qwen-math-blog",
    "none",
    "countdown",
    "chat",
];

impl Template {
    /// A built-in template by name (see [`TEMPLATE_NAMES`]; `_` and `-` are interchangeable, and
    /// upstream's `no` means `none`).
    pub fn from_name(name: &str) -> Result<Template> {
        Ok(match name.replace('_', "-").as_str() {
            "r1" => Template::R1,
            "r1-blog" => Template::R1Blog,
            "qwen-math" => Template::QwenMath,
            "qwen-math-blog" => Template::QwenMathBlog,
            "none" | "no" => Template::None,
            "countdown" => Template::Countdown,
            "chat" => Template::Chat,
            _ => {
                return Err(Error::Template(format!(
                    "unknown template \"{name}\"; built-in: {}, or a file containing {QUESTION_PLACEHOLDER}",
                    TEMPLATE_NAMES.join(", ")
                )));
            }
        })
    }

    /// A user template from a file (see [`UserTemplate`]).
    pub fn from_file(path: &Path) -> Result<Template> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        UserTemplate::new(path.display().to_string(), text)
            .map(|t| Template::User(UserTemplate { name, ..t }))
    }

    /// A built-in name, else a template file at that path.
    pub fn resolve(name_or_path: &str) -> Result<Template> {
        match Template::from_name(name_or_path) {
            Ok(t) => Ok(t),
            Err(e) if !Path::new(name_or_path).is_file() => Err(e),
            Err(_) => Template::from_file(Path::new(name_or_path)),
        }
    }

    /// The template's name (a built-in name, or the user file's stem).
    pub fn name(&self) -> &str {
        match self {
            Template::R1 => "r1",
            Template::R1Blog => "r1-blog",
            Template::QwenMath => "qwen-math",
            Template::QwenMathBlog => "qwen-math-blog",
            Template::None => "none",
            Template::Countdown => "countdown",
            Template::Chat => "chat",
            Template::User(u) => &u.name,
        }
    }

    /// How the answer is extracted from a response to this template.
    pub fn answer_format(&self) -> AnswerFormat {
        match self {
            Template::R1 | Template::R1Blog | Template::Countdown => AnswerFormat::AnswerTag,
            Template::QwenMath | Template::QwenMathBlog | Template::None | Template::Chat => {
                AnswerFormat::Boxed
            }
            Template::User(u) => u.answer_format,
        }
    }

    /// Stop strings to sample with (besides the model's end-of-sequence token).
    pub fn stop(&self) -> Vec<String> {
        match self {
            Template::R1 => vec!["</answer>".into()],
            Template::Countdown => COUNTDOWN_STOP.iter().map(|s| (*s).into()).collect(),
            Template::User(u) => u.stop.clone(),
            _ => Vec::new(),
        }
    }

    /// Whether a matched stop string is kept at the end of the response (true for the
    /// `</answer>` stops, which the answer-tag extraction and the R1 format reward need).
    pub fn include_stop_in_output(&self) -> bool {
        match self {
            Template::R1 => true,
            Template::User(u) => u.answer_format == AnswerFormat::AnswerTag,
            _ => false,
        }
    }

    /// Whether the prompt ends with an opened `<think>`, so the response starts inside it.
    pub fn prefilled_think(&self) -> bool {
        match self {
            Template::R1 | Template::Countdown => true,
            Template::User(u) => u.prefilled_think,
            _ => false,
        }
    }

    /// Renders the prompt for `problem` (Countdown templates read its [`Gold::Countdown`]).
    pub fn render(&self, problem: &Problem) -> Result<Prompt> {
        let countdown = match &problem.gold {
            Gold::Countdown { target, numbers } => Some((*target, numbers.as_slice())),
            _ => None,
        };
        self.render_parts(&problem.question, countdown)
            .map_err(|m| Error::Template(format!("problem {}: {m}", problem.id)))
    }

    /// Renders the prompt for a bare question (fails for Countdown templates, which need the
    /// target and numbers).
    ///
    /// ```
    /// use aha_data::{Template, Prompt};
    /// let p = Template::R1.render_question("What is 1+1?").unwrap();
    /// assert!(p.text().unwrap().ends_with("\nUser: What is 1+1?\nAssistant: <think>"));
    /// ```
    pub fn render_question(&self, question: &str) -> Result<Prompt> {
        self.render_parts(question, None).map_err(Error::Template)
    }

    fn render_parts(
        &self,
        q: &str,
        countdown: Option<(i64, &[i64])>,
    ) -> std::result::Result<Prompt, String> {
        let need_countdown = || {
            countdown.ok_or_else(|| {
                format!(
                    "template \"{}\" needs a Countdown problem (target and numbers)",
                    self.name()
                )
            })
        };
        Ok(Prompt::Text(match self {
            Template::R1 => format!("{R1_PAPER_HEAD}{q}\nAssistant: <think>"),
            Template::R1Blog => format!("{R1_BLOG_HEAD}{q}. Assistant:"),
            Template::QwenMath => format!("{QWEN_MATH_HEAD}{q}{QWEN_MATH_TAIL}\n"),
            Template::QwenMathBlog => format!("{QWEN_MATH_HEAD}{q}{QWEN_MATH_TAIL}"),
            Template::None => q.to_owned(),
            Template::Countdown => {
                let (target, numbers) = need_countdown()?;
                format!(
                    "{COUNTDOWN_HEAD}{}, create an equation that equals {target}{COUNTDOWN_TAIL}",
                    py_list(numbers)
                )
            }
            Template::Chat => {
                return Ok(Prompt::Chat {
                    user: format!("{q}{CHAT_SUFFIX}"),
                });
            }
            Template::User(u) => {
                // Countdown placeholders first, so a question that happens to contain
                // "{numbers}" is never expanded.
                let mut text = u.text.clone();
                if text.contains("{numbers}") || text.contains("{target}") {
                    let (target, numbers) = need_countdown()?;
                    text = text
                        .replace("{numbers}", &py_list(numbers))
                        .replace("{target}", &target.to_string());
                }
                text.replace(QUESTION_PLACEHOLDER, q)
            }
        }))
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses like [`Template::resolve`] (for command-line parsers).
impl std::str::FromStr for Template {
    type Err = Error;
    fn from_str(s: &str) -> Result<Template> {
        Template::resolve(s)
    }
}

/// A list as Python's `str(list)` writes it (`[44, 19, 35]`), as TinyZero's prompt does.
fn py_list(numbers: &[i64]) -> String {
    let items: Vec<String> = numbers.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(", "))
}
