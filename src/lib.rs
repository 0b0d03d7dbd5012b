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

/// Hands memory freed by a burst of work back to the system after 10 ms rather than mimalloc v3's
/// default second, so resident memory follows what the service holds (the engine benchmark's
/// memory figure was at the mercy of when a burst ended). Called when the application is built.
pub fn tune_allocator() {
    // `mi_option_purge_delay` in v3's `mi_option_t` (include/mimalloc.h of the vendored sources);
    // libmimalloc-sys names no constant for it.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one of mimalloc's global options; any value is valid and it may be set at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 10) };
}

/// Turns transparent huge pages off for this process (and the processes it starts). mimalloc
/// advises its arenas as huge-page candidates, so a page it purged can come back as a fresh 2 MB
/// page the kernel zeroes: the engine benchmark's fake Stripe, which allocates a little for every
/// call it answers, spent a quarter of its CPU in that zeroing, on cores it shares with the service.
/// The kernel's per-process switch (`PR_SET_THP_DISABLE`) is used because mimalloc reads its own
/// option before `main` runs.
pub fn no_huge_pages() {
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
    fn the_allocator_purges_freed_memory_after_10_ms() {
        super::tune_allocator();
        // SAFETY: reads one of mimalloc's global options.
        let delay = unsafe { libmimalloc_sys::mi_option_get(15) };
        assert_eq!(delay, 10);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_can_be_turned_off_for_the_process() {
        super::no_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE takes no pointers; it returns the flag.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(disabled, 1);
    }
}
