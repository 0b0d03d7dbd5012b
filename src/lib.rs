//! dunning: a self-hostable payment-recovery service for subscription billing.
//! The binary in `main.rs` is a thin CLI over this library; `app::Application` wires everything.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod email;
pub mod engine;
pub mod http;
pub mod jobs;
pub mod pages;
pub mod providers;
pub mod simulate;
pub mod sms;
pub mod store;
pub mod tenants;
pub mod testing;

/// Every binary and test of the crate allocates through mimalloc. A request or a batch allocates and
/// frees many short-lived strings and buffers (JSON, rendered emails, statement binds); under the
/// engine benchmark glibc's malloc took about a quarter of the service's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tunes the allocator for a service that allocates in bursts. Called when the application is built.
///
/// - Memory freed by a burst of work goes back to the system after 10 ms rather than mimalloc v3's
///   default second, so resident memory follows what the service holds (the engine benchmark's
///   memory figure was at the mercy of when a burst ended).
/// - No transparent huge pages for the process. mimalloc asks for them on its arenas, so every page
///   a purge handed back came back as a fresh 2 MB page the kernel had to zero: under the engine
///   benchmark that zeroing was a tenth of the service's CPU and a quarter of the fake Stripe's, and
///   resident memory moved in 2 MB steps (75 MB where the service held 51). The setting is the
///   kernel's per process (`PR_SET_THP_DISABLE`), since mimalloc's own option is read only before
///   `main` runs; it is inherited by child processes.
pub fn tune_allocator() {
    // `mi_option_purge_delay` and `mi_option_allow_thp` in v3's `mi_option_t` (include/mimalloc.h
    // of the vendored sources); libmimalloc-sys names no constants for them.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const ALLOW_THP: libmimalloc_sys::mi_option_t = 43;
    // SAFETY: sets global options of mimalloc's; any value is valid and they may be set at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 10);
        // Arenas mapped from now on are not advised as huge-page candidates.
        libmimalloc_sys::mi_option_set(ALLOW_THP, 0);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and no pointers; it changes only how the
    // kernel backs this process's future page faults. A failure (an old kernel) leaves THP as it was.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_allocator_purges_freed_memory_after_10_ms_without_huge_pages() {
        super::tune_allocator();
        // SAFETY: reads global options of mimalloc's.
        let (delay, thp) = unsafe {
            (
                libmimalloc_sys::mi_option_get(15),
                libmimalloc_sys::mi_option_get(43),
            )
        };
        assert_eq!((delay, thp), (10, 0));
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_GET_THP_DISABLE takes no pointers; it returns the flag.
            let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
            assert_eq!(disabled, 1, "huge pages are off for the process");
        }
    }
}
