//! Chat template rendering: ChatML (SmolLM2, Qwen), Gemma turns, HF-style templates with
//! `raise_exception`, whitespace control and Python string methods.

use aha_tokenizer::{CHATML_TEMPLATE, ChatMessage, ChatTemplate, Error, GEMMA_TEMPLATE, Tokenizer};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn convo() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("What is 3 + 5?"),
        ChatMessage::assistant("8"),
        ChatMessage::user("And 2 + 2?"),
    ]
}

#[test]
fn chatml_renders_every_turn() -> TestResult {
    let t = ChatTemplate::new(CHATML_TEMPLATE, "", "<|im_end|>")?;
    assert_eq!(
        t.render(&convo(), true)?,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 3 + 5?<|im_end|>\n<|im_start|>assistant\n8<|im_end|>\n<|im_start|>user\nAnd 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        t.render(&[ChatMessage::user("hi")], false)?,
        "<|im_start|>user\nhi<|im_end|>\n"
    );
    Ok(())
}

#[test]
fn gemma_template_folds_system_into_first_user_turn() -> TestResult {
    let t = ChatTemplate::new(GEMMA_TEMPLATE, "<bos>", "<eos>")?;
    assert_eq!(
        t.render(&convo(), true)?,
        "<bos><start_of_turn>user\nBe brief.\n\nWhat is 3 + 5?<end_of_turn>\n<start_of_turn>model\n8<end_of_turn>\n<start_of_turn>user\nAnd 2 + 2?<end_of_turn>\n<start_of_turn>model\n"
    );
    // Content is trimmed; no generation prompt when not asked.
    assert_eq!(
        t.render(&[ChatMessage::user("  hi \n")], false)?,
        "<bos><start_of_turn>user\nhi<end_of_turn>\n"
    );
    Ok(())
}

/// A template in the style Hugging Face models ship: block tags on their own lines (which
/// `trim_blocks`/`lstrip_blocks` must swallow), `raise_exception`, `loop.first`, string methods.
const HF_STYLE: &str = r#"{% if messages[0]['role'] == 'system' %}
    {% set system = messages[0]['content'].strip() %}
    {% set rest = messages[1:] %}
{% else %}
    {% set system = 'default system' %}
    {% set rest = messages %}
{% endif %}
{{ bos_token }}[SYS]{{ system.upper() }}[/SYS]
{% for m in rest %}
    {% if (m['role'] == 'user') != loop.index0 is even %}
        {{ raise_exception('roles must alternate user/assistant') }}
    {% endif %}
    {% if m['role'] == 'user' %}
[U]{{ m['content'] }}
    {% else %}
[A]{{ m['content'] }}{{ eos_token }}
    {% endif %}
{% endfor %}
{% if add_generation_prompt %}
[A]
{% endif %}"#;

#[test]
fn hf_style_template_whitespace_and_methods() -> TestResult {
    let t = ChatTemplate::new(HF_STYLE, "<s>", "</s>")?;
    assert_eq!(
        t.render(&convo(), true)?,
        "<s>[SYS]BE BRIEF.[/SYS]\n[U]What is 3 + 5?\n[A]8</s>\n[U]And 2 + 2?\n[A]\n"
    );
    Ok(())
}

#[test]
fn raise_exception_becomes_a_template_error() -> TestResult {
    let t = ChatTemplate::new(HF_STYLE, "<s>", "</s>")?;
    let bad = [ChatMessage::assistant("out of order")];
    match t.render(&bad, true) {
        Err(e @ Error::Template { .. }) => {
            assert!(e.to_string().contains("roles must alternate"), "{e}")
        }
        other => panic!("expected a template error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn syntax_error_names_the_line() {
    match ChatTemplate::new("line one\n{% for m in messages %}\n{{ m.content ", "", "") {
        Err(e @ Error::Template { .. }) => assert!(e.to_string().contains("line"), "{e}"),
        other => panic!("expected a template error, got {other:?}"),
    }
}

#[test]
fn tokenizer_json_chat_template_is_used() -> TestResult {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tiny-hf/tokenizer.json");
    let tok = Tokenizer::from_tokenizer_json(&path)?;
    let msgs = [ChatMessage::user("the cat")];
    assert_eq!(
        tok.apply_chat_template(&msgs, true)?,
        "<|im_start|>user\nthe cat<|im_end|>\n<|im_start|>assistant\n"
    );
    // <|im_start|> user Ċ the Ġcat <|im_end|> Ċ <|im_start|> assistant Ċ, with the tiny
    // vocabulary's ids: control tokens 263/264, "the" 258, " cat" 262, bytes otherwise.
    let ids = tok.encode_chat(&msgs, true)?;
    assert_eq!(&ids[..6], &[263, 117, 115, 101, 114, 10]);
    assert_eq!(&ids[6..10], &[258, 262, 264, 10]);
    assert_eq!(tok.decode(&ids), tok.apply_chat_template(&msgs, true)?);
    Ok(())
}
