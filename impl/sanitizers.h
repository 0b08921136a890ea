// MMV_ASAN / MMV_TSAN: 1 when this translation unit is built with
// AddressSanitizer / ThreadSanitizer (GCC or Clang), else 0. Code that must
// behave differently under a sanitizer (a page pool that would hide use
// after free, an extra happens-before edge TSan cannot otherwise see)
// tests these, and only these.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define MMV_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMV_ASAN 1
#endif
#endif
#ifndef MMV_ASAN
#define MMV_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define MMV_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MMV_TSAN 1
#endif
#endif
#ifndef MMV_TSAN
#define MMV_TSAN 0
#endif
