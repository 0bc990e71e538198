//! Golden tests: each built-in template rendered for a fixed question, compared byte for byte
//! with the text of the study's templates (docs/study.md, "Prompt templates"; expected strings
//! written out here, not built from the crate's constants).

use aha_data::{AnswerFormat, Gold, Problem, Prompt, Template, UserTemplate};

const Q: &str = "What is $2+3$?";

fn text(t: &Template) -> String {
    match t.render_question(Q).unwrap() {
        Prompt::Text(s) => s,
        other => panic!("{t}: expected text, got {other:?}"),
    }
}

#[test]
fn r1_paper() {
    let want = "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. The Assistant first thinks about the reasoning process in the mind and then provides the User with the answer. The reasoning process is enclosed within <think> </think> and answer is enclosed within <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>.\nUser: What is $2+3$?\nAssistant: <think>";
    let t = Template::from_name("r1").unwrap();
    assert_eq!(text(&t), want);
    assert_eq!(t.answer_format(), AnswerFormat::AnswerTag);
    assert!(t.prefilled_think());
    assert_eq!(t.stop(), ["</answer>"]);
    assert!(t.include_stop_in_output());
}

#[test]
fn r1_blog() {
    let want = "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: What is $2+3$?. Assistant:";
    let t = Template::from_name("r1-blog").unwrap();
    assert_eq!(text(&t), want);
    assert_eq!(t.answer_format(), AnswerFormat::AnswerTag);
    assert!(!t.prefilled_think());
    assert!(t.stop().is_empty());
}

#[test]
fn qwen_math_paper_and_blog() {
    let paper = "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>user\nWhat is $2+3$?<|im_end|>\n<|im_start|>assistant\n";
    let t = Template::from_name("qwen_math").unwrap();
    assert_eq!(text(&t), paper);
    assert_eq!(t.answer_format(), AnswerFormat::Boxed);
    assert!(!t.prefilled_think() && t.stop().is_empty());
    let blog = Template::from_name("qwen-math-blog").unwrap();
    assert_eq!(text(&blog), paper.strip_suffix('\n').unwrap());
    assert!(text(&blog).ends_with("<|im_start|>assistant"));
}

#[test]
fn none_is_the_question_verbatim() {
    for name in ["none", "no"] {
        let t = Template::from_name(name).unwrap();
        assert_eq!(text(&t), Q);
        assert_eq!(t.answer_format(), AnswerFormat::Boxed);
    }
}

#[test]
fn countdown_from_the_gold() {
    let p = Problem {
        id: "0".into(),
        question: "ignored by this template".into(),
        gold: Gold::Countdown {
            target: 98,
            numbers: vec![44, 19, 35],
        },
        meta: Default::default(),
    };
    // TinyZero's base prompt, as in countdown/train.parquet row 0.
    let want = "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first thinks about the reasoning process in the mind and then provides the user with the answer.\nUser: Using the numbers [44, 19, 35], create an equation that equals 98. You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>.\nAssistant: Let me solve this step by step.\n<think>";
    let t = Template::Countdown;
    assert_eq!(t.render(&p).unwrap(), Prompt::Text(want.into()));
    assert!(t.prefilled_think());
    assert_eq!(t.answer_format(), AnswerFormat::AnswerTag);
    assert_eq!(t.stop(), ["</s>", "<|im_end|>", "<|endoftext|>", "\nUser:"]);
    // A math problem has no numbers to render.
    let e = t.render_question(Q).unwrap_err().to_string();
    assert!(e.contains("needs a Countdown problem"), "{e}");
}

#[test]
fn chat_is_a_user_message() {
    let t = Template::from_name("chat").unwrap();
    assert_eq!(
        t.render_question(Q).unwrap(),
        Prompt::Chat {
            user: "What is $2+3$?\nPlease reason step by step, and put your final answer within \\boxed{}.\n\n".into()
        }
    );
    assert_eq!(t.answer_format(), AnswerFormat::Boxed);
    assert_eq!(t.render_question(Q).unwrap().text(), None);
}

#[test]
fn unknown_names_list_the_builtins() {
    let e = Template::from_name("r2").unwrap_err().to_string();
    assert!(
        e.contains("r1, r1-blog, qwen-math, qwen-math-blog, none, countdown, chat"),
        "{e}"
    );
    let e = Template::resolve("/no/such/template.txt")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown template"), "{e}");
}

#[test]
fn user_template_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.txt");
    std::fs::write(&path, "Q: {question}\nPut the answer in \\boxed{}.\nA:").unwrap();
    let t = Template::resolve(path.to_str().unwrap()).unwrap();
    assert_eq!(t.name(), "mine");
    assert_eq!(
        text(&t),
        "Q: What is $2+3$?\nPut the answer in \\boxed{}.\nA:"
    );
    assert_eq!(t.answer_format(), AnswerFormat::Boxed);
    assert!(!t.prefilled_think() && t.stop().is_empty() && !t.include_stop_in_output());

    let tag = UserTemplate::new(
        "tag",
        "User: {question}\nAnswer in <answer> </answer>.\nAssistant: <think>\n",
    )
    .unwrap();
    let tag = Template::User(tag);
    assert_eq!(tag.answer_format(), AnswerFormat::AnswerTag);
    assert!(tag.prefilled_think());
    assert_eq!(tag.stop(), ["</answer>"]);
    assert!(tag.include_stop_in_output());

    // A question containing a placeholder-looking text is inserted verbatim.
    let cd = Template::User(UserTemplate::new("cd", "{question} | {numbers} -> {target}").unwrap());
    let p = Problem {
        id: "x".into(),
        question: "use {numbers}".into(),
        gold: Gold::Countdown {
            target: 6,
            numbers: vec![1, 2, 3],
        },
        meta: Default::default(),
    };
    assert_eq!(
        cd.render(&p).unwrap().text(),
        Some("use {numbers} | [1, 2, 3] -> 6")
    );

    std::fs::write(&path, "Q: {q}\nA:").unwrap();
    let e = Template::from_file(&path).unwrap_err().to_string();
    assert!(e.contains("no {question} placeholder"), "{e}");
    let e = Template::from_file(&dir.path().join("absent.txt")).unwrap_err();
    assert!(matches!(e, aha_data::Error::Io { .. }), "{e}");
}
