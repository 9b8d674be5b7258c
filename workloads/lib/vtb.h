/* tags: workloads|lib — desc: the guest user API (tiny libc): system calls, printf, strings, report records.
 * The same header serves the guest build (sys.c, crt0.S) and the host-native
 * build (host_shim.c), so one program source runs on both. */
#ifndef VTB_USER_H
#define VTB_USER_H

#include <stddef.h>
#include <stdint.h>
#include "common/abi/vtb_abi.h"

/* system calls (negative return = -errno, see vtb_abi.h) */
long vtb_write(int fd, const void *buf, size_t len);
long vtb_getpid(void);
long vtb_fork(void);
long vtb_exec(const char *name, char *const argv[]);
long vtb_wait(long pid, int *status); /* status: exit code, or VTB_WSTATUS_KILLED | vector */
long vtb_wait_timeout(long pid, int *status, uint64_t ticks); /* 0: still running after `ticks` */
long vtb_kill(long pid); /* a descendant, or -1 = all of them: status VTB_WSTATUS_KILLED | VTB_WSTATUS_BY_KILL */
void *vtb_mmap(void *hint, size_t len, int prot); /* anonymous; (void *)-errno on failure */
long vtb_munmap(void *addr, size_t len);
long vtb_yield(void);
long vtb_sleep(uint64_t ticks);
uint64_t vtb_ticks(void);
long vtb_ctrl(const void *buf, size_t len); /* raw bytes to the control channel */
long vtb_ktest(const char *name, uint64_t n);
void exit(int code) __attribute__((noreturn));
#define VTB_MMAP_FAILED(p) ((uint64_t)(p) > (uint64_t)-4096)

/* formatted output: %d %i %u %x %lx %ld %lu %s %c %p %%, width, '0' pad, '-' */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* strings */
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
uint64_t vtb_atou(const char *s, uint64_t dflt); /* decimal; dflt when s is NULL/empty/bad */

/* report API: control-channel records (B/E/R lines, vtb_abi.h) */
void vtb_phase_begin(int phase);
void vtb_phase_end(int phase);
void vtb_result(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
