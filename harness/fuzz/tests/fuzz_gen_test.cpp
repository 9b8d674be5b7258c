// tags: harness|fuzz|tests — desc: the fuzz generator is a pure function of (kind, seed, index); mutants and archives round-trip.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "harness/fuzz/fuzz.h"
#include "harness/fuzz/fuzz_gen.h"

namespace vtb::fuzz {
namespace {

std::string seq(uint64_t seed, uint64_t i) {
  std::string code(FZ_CODE_MAX, '\0');
  uint8_t init[FZ_DATA_BYTES];
  code.resize(fz_gen_seq(seed, i, reinterpret_cast<uint8_t*>(code.data()), 0x100001000ull, init));
  return code + std::string(reinterpret_cast<char*>(init), sizeof init);
}
std::string rnd(uint64_t seed, uint64_t i) {
  std::string code(FZ_CODE_MAX, '\0');
  code.resize(fz_gen_rand(seed, i, reinterpret_cast<uint8_t*>(code.data())));
  return code;
}

TEST(FuzzGen, SameSeedSameBytes) {
  for (uint64_t i = 0; i < 200; ++i) {
    EXPECT_EQ(seq(7, i), seq(7, i));
    EXPECT_EQ(rnd(7, i), rnd(7, i));
    EXPECT_EQ(fz_flip_template(7, i), fz_flip_template(7, i));
  }
}

TEST(FuzzGen, DifferentSeedsOrIndicesDiffer) {
  EXPECT_NE(seq(7, 0), seq(8, 0));
  EXPECT_NE(seq(7, 0), seq(7, 1));
  EXPECT_NE(rnd(7, 0), rnd(8, 0));
  EXPECT_NE(rnd(7, 0), rnd(7, 1));
}

// Pinned: a change of the generator changes every campaign's programs, so
// it must be deliberate (and the figures in docs/reliability.md redone).
TEST(FuzzGen, PinnedStream) {
  fz_rng r = fz_stream(FZ_RAND, 1, 0);
  EXPECT_EQ(fz_next(&r), 0x871c1d79313408dcull);
}

TEST(FuzzGen, SeqCodeIsBoundedAndReturns) {
  for (uint64_t i = 0; i < 500; ++i) {
    std::string s = seq(3, i);
    ASSERT_LT(s.size(), size_t(FZ_CODE_MAX));
    EXPECT_EQ(uint8_t(s[s.size() - FZ_DATA_BYTES - 1]), 0xc3);  // ret
  }
}

TEST(FuzzGen, FlipMutantIsDeterministicAndKeepsHeaders) {
  std::string elf(4096, '\0');
  // a minimal ELF64 header with one PT_LOAD over [256, 4096)
  elf[0] = 0x7f, elf[1] = 'E', elf[2] = 'L', elf[3] = 'F', elf[4] = 2;
  uint64_t phoff = 64;
  memcpy(&elf[32], &phoff, 8);
  uint16_t phnum = 1, phentsize = 56;
  memcpy(&elf[54], &phentsize, 2);
  memcpy(&elf[56], &phnum, 2);
  uint32_t type = 1;
  uint64_t off = 256, filesz = 4096 - 256;
  memcpy(&elf[64], &type, 4);
  memcpy(&elf[64 + 8], &off, 8);
  memcpy(&elf[64 + 32], &filesz, 8);
  for (uint64_t i = 0; i < 50; ++i) {
    std::string a = flip_mutant(9, i, elf), b = flip_mutant(9, i, elf);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, elf);
    EXPECT_EQ(a.substr(0, 256), elf.substr(0, 256));
  }
}

TEST(FuzzGen, ArchiveRoundTrip) {
  std::vector<std::pair<std::string, std::string>> in = {{"fuzz", "abc"}, {"f1", std::string(33, 'x')}, {"e", ""}}, out;
  ASSERT_TRUE(read_archive(write_archive(in), &out));
  EXPECT_EQ(in, out);
  EXPECT_FALSE(read_archive("nope", &out));
}

}  // namespace
}  // namespace vtb::fuzz
