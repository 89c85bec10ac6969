//! Serve the feature browser over a `saev visuals` output:
//! `cargo run --release -p saev-web --example browse -- features/ID`.
fn main() {
    let dir = std::env::args().nth(1).expect("usage: browse VISUALS_DIR");
    let sources = saev_web::browse::Source::open_all(dir.as_ref()).expect("a saev visuals output");
    saev_web::serve(
        saev_web::browse::router(sources),
        "127.0.0.1",
        8000,
        |addr| println!("http://{addr}/"),
    )
    .expect("server");
}
