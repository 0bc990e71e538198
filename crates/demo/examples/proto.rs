use aha_demo::pretrain::*;
use aha_demo::vocab;
use aha_demo::world::*;
use aha_model::SamplingParams;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args[1].parse().unwrap();
    let hidden: usize = args[2].parse().unwrap();
    let layers: usize = args[3].parse().unwrap();
    let lr: f64 = args[4].parse().unwrap();
    let bs: usize = args[5].parse().unwrap();
    let wc = WorldConfig::default();
    let w = World::new(wc.clone()).unwrap();
    let dir = std::path::Path::new("/tmp/proto");
    let tok = vocab::write_and_load(dir, wc.max_value).unwrap();
    let mut rng = rng_for(1, 1);
    let evalq = w
        .questions(100, &mut rng_for(1, 2), &Default::default())
        .unwrap();
    let ex: std::collections::HashSet<String> = evalq.iter().map(|q| q.text()).collect();
    let trainq = w.questions(20000, &mut rng_for(1, 3), &ex).unwrap();
    let docs: Vec<_> = trainq
        .iter()
        .map(|q| document(&tok, &w.solve(q, &mut rng)).unwrap())
        .collect();
    let spec = ModelSpec {
        hidden,
        layers,
        heads: 4,
        intermediate: hidden * 4,
        init_std: 0.02,
    };
    let model = init_model(&spec, vocab::vocab_size(wc.max_value), 7).unwrap();
    let prompts: Vec<Vec<u32>> = evalq
        .iter()
        .map(|q| tok.encode(&q.text(), true).unwrap())
        .collect();
    let evalm = |model: &aha_model::Model, temp: f64, show: bool| {
        let reps = if temp == 0.0 { 1 } else { 4 };
        let p: Vec<Vec<u32>> = prompts
            .iter()
            .flat_map(|x| std::iter::repeat_n(x.clone(), reps))
            .collect();
        let sp = SamplingParams {
            max_new_tokens: 64,
            temperature: temp,
            seed: 3,
            ..Default::default()
        };
        let out = model.generate(&p, &sp, None, &mut |_, _| {}).unwrap();
        let mut correct = 0;
        let mut refl = 0;
        let mut len = 0;
        for (i, c) in out.iter().enumerate() {
            let q = &evalq[i / reps];
            let text = tok.decode_skip_special(&c.tokens);
            let g = aha_verify::grade_math(&text, &q.answer().to_string(), &Default::default());
            if g.verdict.is_correct() {
                correct += 1;
            }
            if text.contains("recheck") || text.contains("check again") {
                refl += 1;
            }
            len += c.tokens.len();
            if show && i < 2 {
                eprintln!("{} |{}", q.text(), text);
            }
        }
        eprintln!(
            "  T={temp}: acc {:.3} refl {:.3} len {:.1}",
            correct as f64 / out.len() as f64,
            refl as f64 / out.len() as f64,
            len as f64 / out.len() as f64
        );
    };
    let t = Instant::now();
    let ps = PretrainSpec {
        batch_size: bs,
        steps,
        lr,
        warmup: 30,
    };
    pretrain(&model, &docs, &ps, 1, &mut |m| {
        if m.step % 25 == 0 {
            eprintln!(
                "step {} loss {:.3} t {:.1}",
                m.step,
                m.loss,
                t.elapsed().as_secs_f64()
            );
        }
        if m.step % 100 == 99 {
            evalm(&model, 0.0, true);
            evalm(&model, 1.0, false);
        }
    })
    .unwrap();
    eprintln!("pretrain {:.1}s", t.elapsed().as_secs_f64());
    evalm(&model, 0.0, true);
    evalm(&model, 1.0, true);
}
