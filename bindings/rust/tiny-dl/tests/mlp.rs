//! Small MLPs reaching a stated accuracy: three interleaved spirals (synthetic,
//! always run) and a Fashion-MNIST subset (from TDL_FMNIST_DIR or
//! /usr/share/datasets/fashion-mnist; skipped when absent).
use std::path::PathBuf;

use tiny_dl::{Context, DType, Dataset, Init, Metrics, Schedule, BATCH};

/// Three spirals of 200 points each (a fixed pseudo-random jitter).
fn spirals() -> (Vec<f32>, Vec<i32>) {
    let mut state: u64 = 12345;
    let mut rand = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32) / (1u64 << 31) as f32
    };
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for class in 0..3 {
        for i in 0..200 {
            let r = i as f32 / 200.0;
            let t = class as f32 * 2.094 + r * 4.0 + (rand() - 0.5) * 0.3;
            x.push(r * t.sin());
            x.push(r * t.cos());
            y.push(class);
        }
    }
    (x, y)
}

#[test]
fn spirals_mlp_reaches_95_percent() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    ctx.set_seed(3)?;
    ctx.set_threads(2)?;
    let g = ctx.graph()?;
    let x = g.input("x", DType::F32, &[BATCH, 2])?;
    let labels = g.input("labels", DType::I32, &[BATCH])?;
    let h = g.relu(g.dense_ex(x, 64, "fc1", Init::HeUniform, true)?)?;
    let h = g.relu(g.dense_ex(h, 64, "fc2", Init::HeUniform, true)?)?;
    let logits = g.dense(h, 3, "fc3")?;
    let loss = g.cross_entropy(logits, labels)?;
    g.compile()?;
    let opt = g.adam(0.01)?;
    let (data, targets) = spirals();
    let n = targets.len() as i64;
    // zero-copy: `data` and `targets` outlive the scope
    g.scope(|s| -> tiny_dl::Result<()> {
        s.feed(x, &data, &[n, 2])?;
        s.feed(labels, &targets, &[n])?;
        for _ in 0..600 {
            g.forward()?;
            g.backward(loss)?;
            opt.step()?;
        }
        g.forward()?;
        Ok(())
    })?;
    let mut metrics = Metrics::new(&ctx, 3)?;
    // the scope has ended: reading logits (which depend on x) needs x fed again
    assert_eq!(logits.read::<f32>().unwrap_err().kind(), tiny_dl::ErrorKind::State);
    g.feed(x, &data, &[n, 2])?;
    g.set_training(false)?;
    g.run(logits)?; // labels are stale but not needed for logits
    metrics.update_scores(&logits.read::<f32>()?, &targets)?;
    println!("spirals: accuracy {:.3}, macro F1 {:.3}", metrics.accuracy(), metrics.macro_f1());
    assert!(metrics.accuracy() >= 0.95, "accuracy {}", metrics.accuracy());
    assert_eq!(metrics.count(), n);
    Ok(())
}

fn fmnist_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TDL_FMNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"));
    if dir.join("train-images-idx3-ubyte.gz").exists() {
        Some(dir)
    } else {
        None
    }
}

struct Model<'g> {
    x: tiny_dl::Node<'g>,
    y: tiny_dl::Node<'g>,
    logits: tiny_dl::Node<'g>,
    loss: tiny_dl::Node<'g>,
}

fn build<'g>(g: &'g tiny_dl::Graph<'_>) -> tiny_dl::Result<Model<'g>> {
    let x = g.input("x", DType::F32, &[BATCH, 784])?;
    let y = g.input("y", DType::I32, &[BATCH])?;
    let xs = g.affine_scalar(x, 1.0 / 0.3530, -0.2860 / 0.3530)?;
    let h = g.relu(g.dense_ex(xs, 128, "fc1", Init::HeUniform, true)?)?;
    let logits = g.dense(h, 10, "fc2")?;
    let loss = g.cross_entropy(logits, y)?;
    g.compile()?;
    Ok(Model { x, y, logits, loss })
}

/// Accuracy over `ds` in eval mode; also returns every logit.
fn evaluate(g: &tiny_dl::Graph<'_>, m: &Model<'_>, ds: &Dataset<'_>, metrics: &mut Metrics<'_>)
    -> tiny_dl::Result<(f64, Vec<f32>)> {
    g.set_training(false)?;
    metrics.reset()?;
    let mut all = Vec::new();
    let mut it = ds.batcher(500, false, 0)?;
    while let Some(b) = it.next_batch()? {
        g.feed(m.x, b.x, &[b.n as i64, 784])?;
        g.run(m.logits)?;
        let scores = m.logits.read::<f32>()?;
        metrics.update_scores(&scores, b.y)?;
        all.extend_from_slice(&scores);
    }
    g.set_training(true)?;
    Ok((metrics.accuracy(), all))
}

#[test]
fn fashion_mnist_subset_reaches_80_percent() -> tiny_dl::Result<()> {
    let dir = match fmnist_dir() {
        Some(d) => d,
        None => {
            println!("SKIP: Fashion-MNIST not found (set TDL_FMNIST_DIR)");
            return Ok(());
        }
    };
    if !tiny_dl::build_info().contains("zlib=yes") {
        println!("SKIP: this libtiny-dl cannot read .gz files ({})", tiny_dl::build_info());
        return Ok(());
    }
    let ctx = Context::new()?;
    ctx.set_threads(2)?;
    ctx.set_seed(42)?;
    let mut train = Dataset::load_idx(&ctx, dir.join("train-images-idx3-ubyte.gz"),
                                      dir.join("train-labels-idx1-ubyte.gz"))?;
    let mut test = Dataset::load_idx(&ctx, dir.join("t10k-images-idx3-ubyte.gz"),
                                     dir.join("t10k-labels-idx1-ubyte.gz"))?;
    assert_eq!((train.len(), test.len()), (60000, 10000));
    assert_eq!(train.sample_shape(), vec![28, 28]);
    assert_eq!(train.num_classes(), 10);
    train.truncate(10000)?;
    test.truncate(2000)?;

    let g = ctx.graph()?;
    let m = build(&g)?;
    let opt = g.adam(2e-3)?;
    let epochs = 2;
    let mut it = train.batcher(64, true, 7)?;
    opt.set_schedule(Schedule::Cosine)?;
    opt.set(tiny_dl::OptimOption::TotalSteps, (epochs * it.num_batches()) as f64)?;
    for _ in 0..epochs {
        while let Some(b) = it.next_batch()? {
            // zero-copy: the batch slices outlive this scope (they live until next_batch)
            g.scope(|s| -> tiny_dl::Result<()> {
                s.feed(m.x, b.x, &[b.n as i64, 784])?;
                s.feed(m.y, b.y, &[b.n as i64])?;
                g.forward()?;
                g.backward(m.loss)?;
                opt.step()
            })?;
        }
        it.reset()?;
    }
    let mut metrics = Metrics::new(&ctx, 10)?;
    let (acc, logits_a) = evaluate(&g, &m, &test, &mut metrics)?;
    println!("fashion-mnist (10k train, 2 epochs, 2k test): accuracy {:.4}", acc);
    let names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"];
    let report = metrics.report(Some(&names))?;
    assert!(report.contains("Ankle boot"));
    println!("{}", report);
    assert!(acc >= 0.80, "test accuracy {} below 0.80", acc);

    // save, reload into a fresh graph with another init, same predictions
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fmnist-rust-{}.safetensors", std::process::id()));
    g.save_weights(&path)?;
    ctx.set_seed(1234)?;
    let g2 = ctx.graph()?;
    let m2 = build(&g2)?;
    g2.load_weights(&path)?;
    let (acc2, logits_b) = evaluate(&g2, &m2, &test, &mut metrics)?;
    let _ = std::fs::remove_file(&path);
    assert_eq!(acc, acc2);
    assert!(logits_a == logits_b, "reloaded model predicts differently");
    Ok(())
}
