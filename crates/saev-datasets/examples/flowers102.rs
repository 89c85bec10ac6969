//! Prepare Flowers-102 class folders from the three official files in DIR.
//!
//! ```sh
//! cp fixtures/flowers102/*.tgz fixtures/flowers102/*.mat /tmp/flowers/
//! cargo run -p saev-datasets --example flowers102 -- /tmp/flowers
//! ```

fn main() -> Result<(), saev_datasets::Error> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let summary = saev_datasets::flowers102::prepare(std::path::Path::new(&dir))?;
    println!(
        "{dir}: {} train, {} val, {} test images in {} classes",
        summary.train, summary.val, summary.test, summary.classes
    );
    Ok(())
}
