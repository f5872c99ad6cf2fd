//! The global allocator: mimalloc, told to hand freed memory back to the system at once.
//!
//! glibc's malloc and free were about 12 % of a pipelined run's CPU. With mimalloc as it
//! comes, `b00t bench` ran 22 % more pipelined tasks/s but the runtime's RSS through the
//! 200,000-task flood rose from 52 MiB to 58-60 MiB with two workers and 70.7 MiB with
//! eight (115 MiB with transparent huge pages, which the `no_thp` feature turns off).
//! Purging at once and committing arenas lazily kept 13 % more tasks/s for 50-51 MiB
//! with two workers and 53.8 MiB with four, `main`'s most.
//!
//! libmimalloc-sys names only some options, so the two set here go by their number in
//! `mi_option_e` (mimalloc.h). They are set only on the major version they were read
//! from; a test checks that the numbers still name them (their defaults).

use libmimalloc_sys::{mi_option_set, mi_option_t, mi_version};

/// `mi_option_arena_eager_commit` (default 2: eager on systems that overcommit).
const ARENA_EAGER_COMMIT: mi_option_t = 4;
/// `mi_option_purge_delay`, in ms (default 1,000: freed memory is kept for a second).
const PURGE_DELAY: mi_option_t = 15;
/// The major version whose option numbers these are (`mi_version` is 10,000 × major + …).
const MAJOR: i32 = 3;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sets the options, first thing in `main`, before any other thread starts.
pub(crate) fn tune() {
    // SAFETY: plain calls into the allocator with option numbers checked by the test
    // below for this version; mimalloc's options may be set at any time.
    #[allow(unsafe_code)]
    unsafe {
        if mi_version() / 10_000 != MAJOR {
            return;
        }
        mi_option_set(PURGE_DELAY, 0);
        mi_option_set(ARENA_EAGER_COMMIT, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn the_option_numbers_name_the_options_of_this_mimalloc() {
        // SAFETY: reads of the allocator's version and options.
        let (version, purge_delay, eager_commit) = unsafe {
            (
                mi_version(),
                libmimalloc_sys::mi_option_get(PURGE_DELAY),
                libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT),
            )
        };
        assert_eq!(version / 10_000, MAJOR, "mimalloc {version}");
        // The test binary never calls `tune`: these are mimalloc's defaults.
        assert_eq!((purge_delay, eager_commit), (1000, 2));
    }
}
