//! The rest of the surface: log sink, datasets from arrays, batcher, augmentation,
//! convolution and pooling builders, version info, DOT export.
use std::sync::{Arc, Mutex};

use tiny_dl::{Context, DType, Dataset, LogLevel, BATCH, PAD_SAME};

#[test]
fn log_sink_receives_messages() -> tiny_dl::Result<()> {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut ctx = Context::new()?;
    let sink = Arc::clone(&lines);
    ctx.set_log(LogLevel::Info, move |level, msg| {
        assert!(level <= LogLevel::Info);
        sink.lock().unwrap().push(msg.to_string());
    })?;
    {
        let g = ctx.graph()?;
        let x = g.input("x", DType::F32, &[BATCH, 4])?;
        g.dense(x, 2, "fc")?;
        g.compile()?;
    }
    assert!(lines.lock().unwrap().iter().any(|l| l.contains("compiled")),
            "{:?}", lines.lock().unwrap());
    ctx.clear_log();
    let n = lines.lock().unwrap().len();
    let g = ctx.graph()?;
    let x = g.input("x", DType::F32, &[BATCH, 4])?;
    g.relu(x)?;
    g.compile()?;
    assert_eq!(lines.lock().unwrap().len(), n);
    Ok(())
}

#[test]
fn dataset_batcher_and_augmentation() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    let x: Vec<f32> = (0..10 * 4).map(|v| v as f32).collect();
    let y: Vec<i32> = (0..10).map(|v| v % 3).collect();
    let ds = Dataset::from_arrays(&ctx, &x, &y, &[1, 2, 2])?;
    assert_eq!((ds.len(), ds.sample_size(), ds.num_classes()), (10, 4, 3));
    assert_eq!(ds.sample_shape(), vec![1, 2, 2]);
    assert_eq!(ds.x(), &x[..]);
    assert_eq!(ds.y(), &y[..]);
    assert!(Dataset::from_arrays(&ctx, &x[..39], &y, &[4]).is_err());
    let mut it = ds.batcher(4, true, 9)?;
    assert_eq!(it.num_batches(), 3);
    let mut seen = Vec::new();
    while let Some(b) = it.next_batch()? {
        assert_eq!(b.x.len(), b.n * 4);
        for (i, &label) in b.y.iter().enumerate() {
            let first = b.x[i * 4] as i32 / 4; // the sample index
            assert_eq!(label, first % 3);
            seen.push(first);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    it.reset()?;
    assert!(it.next_batch()?.is_some());

    let mut img = vec![1.0f32, 2.0, 3.0, 4.0];
    tiny_dl::augment_flip(&mut img, 1, 1, 2, 2, 1.0, 0, 0)?;
    assert_eq!(img, vec![2.0, 1.0, 4.0, 3.0]);
    tiny_dl::normalize_channels(&mut img, 1, 4, &[1.0], &[2.0])?;
    assert_eq!(img, vec![0.5, 0.0, 1.5, 1.0]);
    tiny_dl::augment_translate(&mut img, 1, 1, 2, 2, 0, 0.0, 1, 0)?;
    assert_eq!(img, vec![0.5, 0.0, 1.5, 1.0]);
    assert!(tiny_dl::augment_flip(&mut img, 2, 1, 2, 2, 1.0, 0, 0).is_err());
    assert!(tiny_dl::normalize_channels(&mut img, 1, 4, &[1.0], &[0.0]).is_err());
    Ok(())
}

#[test]
fn conv_net_builds_and_runs() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    ctx.set_seed(5)?;
    let g = ctx.graph()?;
    let x = g.input("x", DType::F32, &[BATCH, 1, 8, 8])?;
    let labels = g.input("labels", DType::I32, &[BATCH])?;
    let h = g.relu(g.conv2d_layer(x, 4, 3, 1, PAD_SAME, 1, true, "c1")?)?;
    let h = g.batch_norm(h, "bn1", 0.1, 1e-5)?;
    let h = g.max_pool2d(h, [2, 2], [2, 2], [0, 0])?;
    let w = g.param("c2.weight", &[4, 4, 3, 3], tiny_dl::Init::HeNormal, 0.0, 0.0)?;
    let h = g.conv2d(h, w, None, [1, 1], [1, 1], [1, 1], 1)?;
    let h = g.avg_pool2d(h, [2, 2], [2, 2], [0, 0])?;
    let pooled = g.global_avg_pool(h)?;
    let flat = g.flatten(h)?;
    let logits = g.dense(g.concat(&[pooled, flat], 1)?, 3, "fc")?;
    let loss = g.cross_entropy(logits, labels)?;
    g.compile()?;
    assert_eq!(h.shape(), vec![-1, 4, 2, 2]);
    assert_eq!(flat.shape(), vec![-1, 16]);
    let opt = g.adam(1e-2)?;
    let images: Vec<f32> = (0..2 * 64).map(|i| ((i * 37) % 11) as f32 / 11.0).collect();
    g.feed(x, &images, &[2, 1, 8, 8])?;
    g.feed(labels, &[0i32, 2], &[2])?;
    let mut first = None;
    for _ in 0..30 {
        g.forward()?;
        let l = loss.read_scalar()?;
        first.get_or_insert(l);
        g.backward(loss)?;
        opt.step()?;
    }
    g.forward()?;
    let last = loss.read_scalar()?;
    assert!(last < first.unwrap(), "loss {} -> {}", first.unwrap(), last);
    assert_eq!(logits.value_shape()?, vec![2, 3]);
    let dot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("conv-{}.dot", std::process::id()));
    g.write_dot(&dot, true)?;
    assert!(std::fs::read_to_string(&dot).unwrap().contains("digraph"));
    let _ = std::fs::remove_file(&dot);
    // a bad convolution: channel mismatch is a shape error naming the op
    let g2 = ctx.graph()?;
    let x2 = g2.input("x", DType::F32, &[BATCH, 3, 8, 8])?;
    let w2 = g2.param("w", &[4, 1, 3, 3], tiny_dl::Init::Zeros, 0.0, 0.0)?;
    let err = g2.conv2d(x2, w2, None, [1, 1], [0, 0], [1, 1], 1).unwrap_err();
    assert!(err.message().contains("conv2d"), "{}", err.message());
    Ok(())
}

#[test]
fn version_and_build_info() {
    let v = tiny_dl::version();
    let n = tiny_dl::version_number();
    let parts: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(n, parts[0] * 10000 + parts[1] * 100 + parts[2]);
    assert!(tiny_dl::build_info().starts_with("tiny-dl "));
}
