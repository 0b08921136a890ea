// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html),
// as macros that vanish on compilers without the analysis. The clang preset
// builds with -Wthread-safety -Werror, so a caller that does not hold the
// lock a REQUIRES names, or a field read without its GUARDED_BY lock, does not
// compile there.
#pragma once

#if defined(__clang__)
#define MMV_TSA(x) __attribute__((x))
#else
#define MMV_TSA(x)
#endif

#define MMV_CAPABILITY(name) MMV_TSA(capability(name))
#define MMV_SCOPED_CAPABILITY MMV_TSA(scoped_lockable)
#define MMV_GUARDED_BY(lock) MMV_TSA(guarded_by(lock))
#define MMV_PT_GUARDED_BY(lock) MMV_TSA(pt_guarded_by(lock))
#define MMV_ACQUIRED_BEFORE(...) MMV_TSA(acquired_before(__VA_ARGS__))
#define MMV_REQUIRES(...) MMV_TSA(requires_capability(__VA_ARGS__))
#define MMV_REQUIRES_SHARED(...) MMV_TSA(requires_shared_capability(__VA_ARGS__))
#define MMV_ACQUIRE(...) MMV_TSA(acquire_capability(__VA_ARGS__))
#define MMV_ACQUIRE_SHARED(...) MMV_TSA(acquire_shared_capability(__VA_ARGS__))
#define MMV_RELEASE(...) MMV_TSA(release_capability(__VA_ARGS__))
#define MMV_RELEASE_SHARED(...) MMV_TSA(release_shared_capability(__VA_ARGS__))
#define MMV_RELEASE_GENERIC(...) MMV_TSA(release_generic_capability(__VA_ARGS__))
#define MMV_TRY_ACQUIRE(...) MMV_TSA(try_acquire_capability(__VA_ARGS__))
#define MMV_TRY_ACQUIRE_SHARED(...) MMV_TSA(try_acquire_shared_capability(__VA_ARGS__))
#define MMV_EXCLUDES(...) MMV_TSA(locks_excluded(__VA_ARGS__))
#define MMV_ASSERT_CAPABILITY(x) MMV_TSA(assert_capability(x))
#define MMV_ASSERT_SHARED_CAPABILITY(x) MMV_TSA(assert_shared_capability(x))
#define MMV_RETURN_CAPABILITY(x) MMV_TSA(lock_returned(x))
// Every use says, next to it, why the analysis cannot follow the code.
#define MMV_NO_THREAD_SAFETY_ANALYSIS MMV_TSA(no_thread_safety_analysis)
