//! Errors come back as `Err` with the status and the library's message.
use tiny_dl::{Context, DType, ErrorKind, BATCH};

#[test]
fn builder_errors_are_returned_and_sticky() {
    let ctx = Context::new().unwrap();
    let g = ctx.graph().unwrap();
    let a = g.input("a", DType::F32, &[BATCH, 3]).unwrap();
    let b = g.param("b", &[4, 5], tiny_dl::Init::Zeros, 0.0, 0.0).unwrap();
    let err = g.matmul(a, b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape);
    assert_eq!(err.code(), tiny_dl::sys::TDL_ERR_SHAPE);
    assert!(err.message().contains("matmul"), "{}", err.message());
    assert!(err.to_string().contains(err.message()));
    // sticky: later builders and compile report the first error
    let err2 = g.relu(a).unwrap_err();
    assert_eq!(err2.message(), err.message());
    let err3 = g.compile().unwrap_err();
    assert_eq!(err3.kind(), ErrorKind::Shape);
    assert_eq!(err3.message(), err.message());
    assert!(g.status().is_err());
}

#[test]
fn feed_and_run_errors() {
    let ctx = Context::new().unwrap();
    let g = ctx.graph().unwrap();
    let x = g.input("x", DType::F32, &[BATCH, 2]).unwrap();
    let labels = g.input("labels", DType::I32, &[BATCH]).unwrap();
    let y = g.dense(x, 3, "fc").unwrap();
    let loss = g.cross_entropy(y, labels).unwrap();
    g.compile().unwrap();

    // running before feeding: the library's state error
    let err = g.run(y).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::State);
    assert!(err.message().contains("'x'"), "{}", err.message());

    // the library's shape check (3 columns instead of 2)
    let err = g.feed(x, &[0.0f32; 6], &[2, 3]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape);
    assert!(err.message().contains("expects shape"), "{}", err.message());

    // the binding's checks: length, dtype, non-input
    let err = g.feed(x, &[0.0f32; 5], &[3, 2]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Shape);
    let err = g.feed(x, &[0i32; 4], &[2, 2]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Dtype);
    let err = g.feed(y, &[0.0f32; 6], &[2, 3]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    // a label out of range fails the run
    g.feed(x, &[0.0f32; 4], &[2, 2]).unwrap();
    g.feed(labels, &[0i32, 7], &[2]).unwrap();
    let err = g.forward().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    // backward needs a forward since the last feed
    g.feed(labels, &[0i32, 1], &[2]).unwrap();
    let err = g.backward(loss).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::State);
    g.forward().unwrap();
    g.backward(loss).unwrap();
    // backward may reuse the memory of forward values: reading one then is a state error
    g.run(y).unwrap();

    // reading with the wrong element type
    assert_eq!(y.read::<i32>().unwrap_err().kind(), ErrorKind::Dtype);
    let mut small = [0.0f32; 2];
    assert_eq!(y.read_into(&mut small).unwrap_err().kind(), ErrorKind::Shape);
    let mut enough = [0.0f32; 6];
    assert_eq!(y.read_into(&mut enough).unwrap(), 6);
}

#[test]
fn nodes_of_another_graph_are_refused() {
    let ctx = Context::new().unwrap();
    let g1 = ctx.graph().unwrap();
    let g2 = ctx.graph().unwrap();
    let a = g1.input("a", DType::F32, &[BATCH, 2]).unwrap();
    let b = g2.input("b", DType::F32, &[BATCH, 2]).unwrap();
    let err = g2.add(a, b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("another graph"), "{}", err.message());
    assert!(g2.feed(a, &[0.0f32; 2], &[1, 2]).is_err());
    assert!(g2.run(a).is_err());
    // g2 itself is still fine: the binding refused the call before the library saw it
    assert!(g2.status().is_ok());
}

#[test]
fn io_and_context_errors() {
    let ctx = Context::new().unwrap();
    let err = ctx.set_threads(0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(!err.message().is_empty());
    assert!(!tiny_dl::last_error().is_empty());
    assert!(!tiny_dl::status_string(ErrorKind::Io.code()).is_empty());

    let g = ctx.graph().unwrap();
    let x = g.input("x", DType::F32, &[BATCH, 2]).unwrap();
    g.dense(x, 2, "fc").unwrap();
    g.compile().unwrap();
    let path = "/nonexistent-dir-tiny-dl/weights.safetensors";
    let err = g.load_weights(path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains(path), "{}", err.message());
    let err = g.save_weights(path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);

    let err = tiny_dl::Dataset::load_idx(&ctx, "/nonexistent/a.idx", "/nonexistent/b.idx")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    let err = tiny_dl::Metrics::new(&ctx, 1).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = g.input("bad\0name", DType::F32, &[2]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn optimizer_errors() {
    let ctx = Context::new().unwrap();
    let g = ctx.graph().unwrap();
    let x = g.input("x", DType::F32, &[BATCH, 2]).unwrap();
    g.dense(x, 2, "fc").unwrap();
    g.compile().unwrap();
    assert_eq!(g.adam(-1.0).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let opt = g.sgd(0.1, 0.9).unwrap();
    assert_eq!(opt.add_group("nothing-matches").unwrap_err().kind(), ErrorKind::NotFound);
    let grp = opt.add_group("fc.b").unwrap();
    assert!(grp >= 1);
    opt.group_set(grp, tiny_dl::OptimOption::Frozen, 1.0).unwrap();
    assert_eq!(opt.set(tiny_dl::OptimOption::Beta1, 0.5).unwrap_err().kind(),
               ErrorKind::InvalidArgument);
    opt.set_schedule(tiny_dl::Schedule::Cosine).unwrap();
    // cosine without total steps fails the step, and changes nothing
    assert_eq!(opt.step().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(opt.steps(), 0);
}
