//! Learns XOR with a 2-8-1 MLP: BCE loss below 0.05 and logits of the right sign.
use tiny_dl::{Context, DType, BATCH};

#[test]
fn xor_converges() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    ctx.set_seed(1)?;
    let g = ctx.graph()?;
    let x = g.input("x", DType::F32, &[BATCH, 2])?;
    let t = g.input("t", DType::F32, &[BATCH, 1])?;
    let h = g.tanh(g.dense(x, 8, "h")?)?;
    let y = g.dense(h, 1, "out")?;
    let loss = g.bce_with_logits(y, t)?;
    g.compile()?;
    let opt = g.adam(0.05)?;

    let inputs = [0.0f32, 0., 0., 1., 1., 0., 1., 1.];
    let targets = [0.0f32, 1., 1., 0.];
    g.feed(x, &inputs, &[4, 2])?; // copied: valid for every later run
    g.feed(t, &targets, &[4, 1])?;
    let mut last = f32::INFINITY;
    for _ in 0..500 {
        g.forward()?;
        last = loss.read_scalar()?;
        g.backward(loss)?;
        opt.step()?;
    }
    g.forward()?;
    let final_loss = loss.read_scalar()?;
    // a full forward may reuse the memory of intermediate values (the library's
    // liveness plan): run the node itself to read it
    g.run(y)?;
    let logits = y.read::<f32>()?;
    println!("loss {} -> {}, logits {:?}", last, final_loss, logits);
    assert!(final_loss < 0.05, "BCE loss {} is not below 0.05", final_loss);
    for (l, want) in logits.iter().zip(targets.iter()) {
        assert_eq!(*l > 0.0, *want > 0.5, "logits {:?}", logits);
    }
    assert_eq!(opt.steps(), 500);
    assert_eq!(y.value_shape()?, vec![4, 1]);
    assert_eq!(x.shape(), vec![-1, 2]);
    assert_eq!(g.param_count(), 4);
    assert_eq!(g.param_elements(), 2 * 8 + 8 + 8 + 1);
    Ok(())
}

#[test]
fn params_and_gradients_round_trip() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    let g = ctx.graph()?;
    let x = g.input("x", DType::F32, &[BATCH, 3])?;
    let y = g.dense(x, 2, "fc")?;
    let loss = g.mean(y, &[], false)?;
    g.compile()?;
    let w = g.find("fc.weight").expect("fc.weight");
    assert!(w.is_param() && w.trainable());
    assert_eq!(w.shape(), vec![2, 3]);
    w.set_param_values(&[1., 2., 3., 4., 5., 6.])?;
    g.feed(x, &[1.0f32, 1., 1.], &[1, 3])?;
    g.run(y)?;
    // y = x W^T + b; loss = mean(y) over 2 outputs -> dloss/dW = 0.5 * x
    assert_eq!(y.read::<f32>()?, vec![6.0, 15.0]);
    g.forward()?;
    g.backward(loss)?;
    assert_eq!(w.param_grad()?, vec![0.5; 6]);
    w.set_param_grad(&[0.0; 6])?;
    assert_eq!(w.param_grad()?, vec![0.0; 6]);
    assert!(w.set_param_values(&[1.0]).is_err());
    assert!(x.param_values().is_err());
    let names: Vec<String> = g.params().iter().map(|p| p.name()).collect();
    assert_eq!(names, vec!["fc.weight".to_string(), "fc.bias".to_string()]);
    let summary = g.summary()?;
    assert!(summary.contains("fc"), "{}", summary);
    let plan = g.memory_plan(32)?;
    assert!(plan.arena_bytes > 0 && plan.naive_bytes >= plan.arena_bytes);
    Ok(())
}
