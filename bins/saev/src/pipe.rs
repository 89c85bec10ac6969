//! A closed stdout (`saev shards inspect | head`) ends the process quietly,
//! as for any Unix tool, instead of `println!` panicking on EPIPE.

/// Restore the default SIGPIPE action (Rust ignores it at start-up). Not for
/// the web servers: a browser closing a connection must not kill them.
pub fn die_quietly_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: sets a signal disposition before any threads start.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
