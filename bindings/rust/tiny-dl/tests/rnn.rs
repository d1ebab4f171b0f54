//! Sequence models: an LSTM classifies sequences; the step-by-step state
//! reproduces the fused layer; sampling is deterministic.
use tiny_dl::{Context, DType, RnnConfig, RnnKind, RnnState, RnnStepper, BATCH};

/// Sequences of 6 tokens (vocab 5); label 1 when token 3 occurs, else 0.
fn data() -> (Vec<i32>, Vec<i32>) {
    let mut state: u64 = 7;
    let mut ids = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..64 {
        let mut has = 0;
        let mut seq = Vec::new();
        for _ in 0..6 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let t = ((state >> 33) % 5) as i32;
            if t == 3 {
                has = 1;
            }
            seq.push(t);
        }
        ids.extend(seq);
        labels.push(has);
    }
    (ids, labels)
}

#[test]
fn lstm_learns_a_token_detector_and_steps_match() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    ctx.set_seed(11)?;
    let g = ctx.graph()?;
    let ids = g.input("ids", DType::I32, &[BATCH, 6])?;
    let labels = g.input("labels", DType::I32, &[BATCH])?;
    let emb = g.embedding(ids, 5, 8, None, "emb")?; // [B, 6, 8]
    let mut cfg = RnnConfig::new(RnnKind::Lstm, 16);
    cfg.batch_first = true;
    let seq = g.rnn(emb, None, None, None, &cfg, "lstm")?; // [B, 6, 16]
    let pooled = g.masked_mean_time(seq, None, true)?;
    let h = g.rnn_final_state(seq, RnnState::H)?; // [1, B, 16]
    let last = g.reshape(h, &[-1, 16])?;
    let logits = g.dense(g.concat(&[pooled, last], 1)?, 2, "fc")?;
    let loss = g.cross_entropy(logits, labels)?;
    g.compile()?;
    let opt = g.adam(0.02)?;
    let (x, y) = data();
    g.feed(ids, &x, &[64, 6])?;
    g.feed(labels, &y, &[64])?;
    for _ in 0..150 {
        g.forward()?;
        g.backward(loss)?;
        opt.step()?;
    }
    g.run(logits)?;
    let scores = logits.read::<f32>()?;
    let correct = (0..64).filter(|&i| (scores[2 * i + 1] > scores[2 * i]) as i32 == y[i]).count();
    println!("lstm token detector: {}/64", correct);
    assert!(correct >= 60, "{}/64 correct", correct);

    // the step API reproduces the fused layer on the embedded sequence of sample 0
    g.run(emb)?;
    let e = emb.read::<f32>()?; // [64, 6, 8]
    g.run(seq)?;
    let full = seq.read::<f32>()?; // [64, 6, 16]
    let mut st = RnnStepper::new(&g, seq, 1)?;
    let mut out = vec![0.0f32; 16];
    for t in 0..6 {
        st.step(&e[t * 8..t * 8 + 8], Some(&mut out))?;
        for k in 0..16 {
            let want = full[t * 16 + k];
            assert!((out[k] - want).abs() <= 1e-5 * want.abs().max(1.0), "t {} k {}", t, k);
        }
    }
    assert_eq!(st.state(RnnState::H)?, out);
    assert!(st.step(&e[..7], None).is_err());
    st.set_state(RnnState::C, &[0.0; 16])?;
    st.reset()?;
    assert_eq!(st.state(RnnState::H)?, vec![0.0; 16]);
    Ok(())
}

#[test]
fn sampling_is_deterministic() -> tiny_dl::Result<()> {
    let logits = [0.1f32, 2.0, -1.0, 0.5];
    assert_eq!(tiny_dl::sample_logits(&logits, 0.0, 0, 1, 0)?, 1);
    let a = tiny_dl::sample_logits(&logits, 1.0, 2, 9, 3)?;
    assert_eq!(a, tiny_dl::sample_logits(&logits, 1.0, 2, 9, 3)?);
    assert!(a == 1 || a == 3);
    let err = tiny_dl::sample_logits(&[], 1.0, 0, 0, 0).unwrap_err();
    assert_eq!(err.kind(), tiny_dl::ErrorKind::InvalidArgument);
    Ok(())
}

#[test]
fn weight_dropout_changes_training_runs_only() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    ctx.set_seed(5)?;
    let g = ctx.graph()?;
    let x = g.input("x", DType::F32, &[4, BATCH, 3])?;
    let seq = g.rnn(x, None, None, None, &RnnConfig::new(RnnKind::Gru, 8), "gru")?;
    let err = g.rnn_set_weight_dropout(seq, 1.0).unwrap_err();
    assert_eq!(err.kind(), tiny_dl::ErrorKind::InvalidArgument);
    assert!(g.rnn_set_weight_dropout(x, 0.5).is_err()); // not an RNN output
    g.rnn_set_weight_dropout(seq, 0.5)?;
    g.compile()?;
    let xs: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin()).collect();
    g.feed(x, &xs, &[4, 2, 3])?;
    g.set_training(false)?;
    g.run(seq)?;
    let eval = seq.read::<f32>()?;
    g.set_training(true)?;
    g.run(seq)?;
    let train = seq.read::<f32>()?;
    assert_ne!(eval, train);
    Ok(())
}
