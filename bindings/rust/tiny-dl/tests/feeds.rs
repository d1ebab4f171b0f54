//! Fed-data ownership: copies stay valid, scoped (zero-copy) feeds go stale when
//! their scope ends, and everything else keeps working.
use tiny_dl::{Context, DType, ErrorKind, BATCH};

#[test]
fn copied_feed_outlives_the_source() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    let g = ctx.graph()?;
    let x = g.input("x", DType::F32, &[BATCH, 2])?;
    let y = g.affine_scalar(x, 2.0, 1.0)?;
    g.compile()?;
    {
        let tmp = vec![1.0f32, 2.0, 3.0, 4.0];
        g.feed(x, &tmp, &[2, 2])?;
    } // tmp is gone; the graph kept a copy
    let junk = vec![9.0f32; 1000]; // likely reuses tmp's memory
    g.run(y)?;
    assert_eq!(y.read::<f32>()?, vec![3.0, 5.0, 7.0, 9.0]);
    assert_eq!(x.read::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
    drop(junk);
    // a failed feed keeps the previous data
    assert!(g.feed(x, &[0.0f32; 3], &[1, 3]).is_err());
    g.run(y)?;
    assert_eq!(y.read::<f32>()?, vec![3.0, 5.0, 7.0, 9.0]);
    // feeding again many times reuses the two buffers
    for i in 0..10 {
        let v = vec![i as f32; 2];
        g.feed(x, &v, &[1, 2])?;
        g.run(y)?;
        assert_eq!(y.read::<f32>()?, vec![2.0 * i as f32 + 1.0; 2]);
    }
    Ok(())
}

#[test]
fn scoped_feed_goes_stale_when_the_scope_ends() -> tiny_dl::Result<()> {
    let ctx = Context::new()?;
    let g = ctx.graph()?;
    let a = g.input("a", DType::F32, &[BATCH, 2])?;
    let b = g.input("b", DType::F32, &[BATCH, 2])?;
    let ya = g.relu(a)?;
    let yb = g.sum(b, &[], false)?;
    let w = g.param("w", &[2], tiny_dl::Init::Constant, 0.5, 0.0)?;
    g.compile()?;
    let da = vec![-1.0f32, 2.0];
    let db = vec![3.0f32, 4.0];
    g.feed(b, &db, &[1, 2])?; // copied
    let seen = g.scope(|s| -> tiny_dl::Result<Vec<f32>> {
        s.feed(a, &da, &[1, 2])?;
        g.run(ya)?;
        ya.read::<f32>()
    })?;
    assert_eq!(seen, vec![0.0, 2.0]);
    // a was fed in the ended scope: whatever depends on it is refused ...
    for err in [g.forward().unwrap_err(), g.run(ya).unwrap_err(), ya.read::<f32>().unwrap_err(),
                a.read::<f32>().unwrap_err()] {
        assert_eq!(err.kind(), ErrorKind::State);
        assert!(err.message().contains("'a'"), "{}", err.message());
    }
    // ... the rest still works
    g.run(yb)?;
    assert_eq!(yb.read_scalar()?, 7.0);
    assert_eq!(w.param_values()?, vec![0.5, 0.5]);
    // feeding again (copied or scoped) clears it
    g.feed(a, &da, &[1, 2])?;
    g.forward()?;
    g.run(ya)?;
    assert_eq!(ya.read::<f32>()?, vec![0.0, 2.0]);
    Ok(())
}

#[test]
fn scope_ends_even_on_error() {
    let ctx = Context::new().unwrap();
    let g = ctx.graph().unwrap();
    let a = g.input("a", DType::F32, &[BATCH, 1]).unwrap();
    let y = g.exp(a).unwrap();
    g.compile().unwrap();
    let data = [0.0f32];
    let r: tiny_dl::Result<()> = g.scope(|s| {
        s.feed(a, &data, &[1, 1])?;
        Err(tiny_dl::Error::new(ErrorKind::Internal, "stop"))
    });
    assert!(r.is_err());
    assert_eq!(g.run(y).unwrap_err().kind(), ErrorKind::State);
}
