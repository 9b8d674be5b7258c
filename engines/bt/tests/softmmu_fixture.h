// tags: engines|bt|tests — desc: the software-MMU tests' guest: real page tables in a 4 MiB guest memory (code at va 0x400000, data pages at 0x600000, the host's vCPU block address mapped too) under a bt-softmmu runtime.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "common/guest_memory.h"
#include "engines/bt/runtime.h"
#include "engines/bt/soft_mmu.h"
#include "engines/bt/tests/paged_run.h"

namespace vtb::bt {

// va 0x400000.. (16 pages) -> gpa 0x100000 (code, RW);
// va 0x600000 -> gpa 0x200000, 0x601000 -> gpa 0x280000 (not contiguous), 0x602000 -> gpa 0x202000 read-only;
// va 0x40000000 (the host's vCPU block address) -> gpa 0x300000.
class SoftmmuFixture : public ::testing::Test {
 protected:
  void SetUp() override { setup(false); }
  // reflect: exceptions go through the guest IDT (else each one is an Exit).
  void setup(bool reflect) {
    Status st;
    mem_ = GuestMemory::create(4 << 20, &st);
    ASSERT_TRUE(mem_) << st.message();
    put(0x1000, 0x2000 | 7);              // PML4[0] -> PDPT
    put(0x2000, 0x3000 | 7);              // PDPT[0] -> PD
    put(0x2000 + 1 * 8, 0x6000 | 7);      // PDPT[1] (1 GiB) -> PD
    put(0x3000 + 2 * 8, 0x4000 | 7);      // PD[2] (0x400000) -> PT code
    put(0x3000 + 3 * 8, 0x5000 | 7);      // PD[3] (0x600000) -> PT data
    put(0x6000, 0x7000 | 7);              // 0x40000000 -> PT
    for (uint64_t i = 0; i < 16; ++i) put(0x4000 + i * 8, (0x100000 + i * 0x1000) | 7);
    put(0x5000, 0x200000 | 7);
    put(0x5000 + 8, 0x280000 | 7);
    put(0x5000 + 16, 0x202000 | 5);       // present, user, read-only
    put(0x7000, 0x300000 | 7);
    RuntimeOptions opt;
    opt.softmmu = true;
    opt.reflect_exceptions = reflect;
    rt_ = Runtime::create(&mmu_, opt, &st);
    ASSERT_TRUE(rt_) << st.message();
    mmu_.attach(mem_.get(), rt_.get());
  }
  void put(uint64_t gpa, uint64_t v) { mem_->write_obj(gpa, v); }
  uint64_t get(uint64_t gpa) {
    uint64_t v = 0;
    mem_->read_obj(gpa, &v);
    return v;
  }
  Exit run(const std::vector<uint8_t>& code, Regs* r) {
    return test::run_paged(*rt_, *mem_, code, r, r->rsp ? r->rsp : 0x600800);
  }
  uint64_t counter(const char* n) { return test::runtime_counter(*rt_, n); }
  // The run ended in a guest #PF with this CR2 and error code, raised at `rip`.
  static void expect_pf(const Exit& e, const Regs& r, uint64_t cr2, uint64_t err, uint64_t rip = 0x400000) {
    ASSERT_EQ(e.kind, ExitKind::GuestFault) << e.message;
    EXPECT_EQ(e.vector, 14);
    EXPECT_EQ(e.fault_addr, cr2);
    EXPECT_EQ(e.error_code, err);
    EXPECT_EQ(r.rip, rip);
  }
  std::unique_ptr<GuestMemory> mem_;
  SoftMmu mmu_;
  std::unique_ptr<Runtime> rt_;
};

}  // namespace vtb::bt
