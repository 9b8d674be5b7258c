/* tags: kernel|uaccess — desc: copies between kernel and user memory: a plain dereference, or (pv after vm_assist) a walk of the current tables through the direct map. */
#include "kern.h"

/* Two paths (plat_user_direct()):
 *  - dereference: the user address itself, as the CPU translates it with
 *    the current tables; a demand-zero or COW fault inside is resolved by
 *    the kernel's #PF path (trap.c -> user_fault). The native flavor, and
 *    pv when the engine refused the assist.
 *  - direct: the pv kernel promised the engine (vm_assist
 *    VTB_VMASST_DIRECT_USER_ACCESS) never to touch a user address, so the
 *    engine need not map the user half for it (pv@2as maps it only in the
 *    user process). Each page is found by a software walk of the root the
 *    kernel last loaded and reached through the direct map (P2V). A page
 *    the walk refuses (not P|U, or not W for a write) gets what the #PF
 *    would have got, user_fault(va, P/W/U), and one more walk.
 * Callers check the range against the process's vmas (user_range_ok)
 * first, as before. */

#define UF_P 1u
#define UF_W 2u
#define UF_U 4u

/* The kernel address of user byte uva for an access within its page; 0 when
 * the page is still missing after one resolved fault. */
static uint8_t *user_page(uint64_t uva, int write) {
  const uint64_t need = PTE_P | PTE_U | (write ? PTE_W : 0);
  for (int again = 0; again < 2; again++) {
    plat_pte_flush(); /* pv defers leaf writes: the walk reads entries back */
    uint64_t *pte = vm_pte(plat_read_baseptr(), uva & PAGE_MASK, 0);
    if (pte && (*pte & need) == need) return (uint8_t *)P2V(*pte & PTE_ADDR) + (uva & (PAGE - 1));
    const uint64_t err = ((pte && (*pte & PTE_P)) ? UF_P : 0) | (write ? UF_W : 0) | UF_U;
    if (again || !cur || !user_fault(uva, err)) break;
  }
  return 0;
}

/* Page by page through the direct map. */
static int direct_copy(uint64_t uva, uint8_t *k, uint64_t len, int write) {
  while (len) {
    uint64_t n = PAGE - (uva & (PAGE - 1));
    if (n > len) n = len;
    uint8_t *u = user_page(uva, write);
    if (!u) return -VTB_EFAULT;
    if (write) memcpy(u, k, n);
    else memcpy(k, u, n);
    uva += n, k += n, len -= n;
  }
  return 0;
}

int copy_from_user(void *dst, uint64_t uva, uint64_t len) {
  if (plat_user_direct()) return direct_copy(uva, dst, len, 0);
  for (uint64_t i = 0; i < len; i++) ((char *)dst)[i] = *(const volatile char *)(uva + i);
  return 0;
}

int copy_to_user(uint64_t uva, const void *src, uint64_t len) {
  if (plat_user_direct()) return direct_copy(uva, (uint8_t *)(uintptr_t)src, len, 1);
  for (uint64_t i = 0; i < len; i++) *(volatile char *)(uva + i) = ((const char *)src)[i];
  return 0;
}

long copy_str_from_user(char *dst, uint64_t uva, uint64_t max) {
  const uint8_t *u = 0; /* direct path: the kernel address of byte i */
  for (uint64_t i = 0; i < max; i++) {
    if (i == 0 || ((uva + i) & (PAGE - 1)) == 0) {
      if (!user_range_ok(uva + i, 1, 0)) return -VTB_EFAULT;
      if (plat_user_direct() && !(u = user_page(uva + i, 0))) return -VTB_EFAULT;
    }
    dst[i] = u ? (char)*u++ : *(const volatile char *)(uva + i);
    if (!dst[i]) return (long)i;
  }
  return -VTB_EINVAL;
}
