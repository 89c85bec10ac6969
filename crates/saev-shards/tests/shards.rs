//! Integration tests of saev-shards (one test binary; modules below).

mod shards {
    pub mod common;
    mod errors;
    mod golden;
    mod loader;
    mod protocol;
    mod roundtrip;
    mod writer;
}
