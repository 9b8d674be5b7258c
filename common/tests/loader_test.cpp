// tags: common|tests — desc: the ELF loader accepts good images and names each bad one.
#include <gtest/gtest.h>

#include "common/abi/vtb_abi.h"
#include "common/loader.h"
#include "common/tests/elf_builder.h"

namespace vtb {
namespace {

constexpr uint64_t kV = VTB_KERNEL_VBASE + 0x200000, kP = 0x200000;

std::vector<uint8_t> good() {
  return test::build_elf({{kV, kP, {0xf4, 0xeb, 0xfd}, 0x2000},
                          {kV + 0x10000, kP + 0x10000, {1, 2, 3, 4}, 4, PF_R | PF_W}},
                         kV);
}

Status parse(std::vector<uint8_t> b, ElfImage* img = nullptr) {
  ElfImage tmp;
  return parse_elf(std::move(b), "k.elf", img ? img : &tmp);
}

TEST(Loader, AcceptsGoodImage) {
  ElfImage img;
  ASSERT_TRUE(parse(good(), &img)) << parse(good()).message();
  EXPECT_EQ(img.entry, kV);
  ASSERT_EQ(img.segments.size(), 2u);
  EXPECT_EQ(img.segments[0].paddr, kP);
  EXPECT_EQ(img.segments[0].memsz, 0x2000u);
}

TEST(Loader, RejectsTruncatedHeader) {
  auto b = good();
  b.resize(20);
  Status s = parse(b);
  EXPECT_EQ(s.kind(), ErrorKind::BadInput);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
}

TEST(Loader, RejectsBadMagic) {
  auto b = good();
  b[1] = 'X';
  EXPECT_NE(parse(b).message().find("not an ELF"), std::string::npos);
}

TEST(Loader, RejectsElf32) {
  auto b = good();
  b[EI_CLASS] = ELFCLASS32;
  EXPECT_NE(parse(b).message().find("not ELF64"), std::string::npos);
}

TEST(Loader, RejectsWrongMachine) {
  auto b = good();
  Elf64_Ehdr eh;
  std::memcpy(&eh, b.data(), sizeof eh);
  eh.e_machine = EM_AARCH64;
  std::memcpy(b.data(), &eh, sizeof eh);
  EXPECT_NE(parse(b).message().find("wrong machine"), std::string::npos);
}

TEST(Loader, RejectsNonExecutable) {
  auto b = good();
  Elf64_Ehdr eh;
  std::memcpy(&eh, b.data(), sizeof eh);
  eh.e_type = ET_DYN;
  std::memcpy(b.data(), &eh, sizeof eh);
  EXPECT_NE(parse(b).message().find("not an executable"), std::string::npos);
}

TEST(Loader, RejectsProgramHeadersPastEnd) {
  auto b = good();
  b.resize(sizeof(Elf64_Ehdr) + 10);
  Status s = parse(b);
  EXPECT_NE(s.message().find("program headers end"), std::string::npos) << s.message();
}

TEST(Loader, RejectsSegmentPastEnd) {
  auto b = good();
  b.resize(b.size() - 2);
  Status s = parse(b);
  EXPECT_NE(s.message().find("segment 1 ends"), std::string::npos) << s.message();
}

TEST(Loader, RejectsFileSizeAboveMemorySize) {
  auto b = test::build_elf({{kV, kP, {1, 2, 3, 4}, 2}}, kV);
  EXPECT_NE(parse(b).message().find("file size"), std::string::npos);
}

TEST(Loader, RejectsOverlappingSegments) {
  auto b = test::build_elf({{kV, kP, {0x90}, 0x2000}, {kV + 0x1000, kP + 0x1000, {0x90}, 0x10}}, kV);
  EXPECT_NE(parse(b).message().find("overlap"), std::string::npos);
}

TEST(Loader, RejectsEntryOutsideCode) {
  auto b = test::build_elf({{kV, kP, {0x90}, 0x10}}, kV + 0x5000);
  EXPECT_NE(parse(b).message().find("entry point"), std::string::npos);
}

TEST(Loader, RejectsMissingFile) {
  std::vector<uint8_t> b;
  Status s = read_file("/nonexistent/tbk.elf", &b);
  EXPECT_EQ(s.kind(), ErrorKind::BadInput);
  EXPECT_NE(s.message().find("cannot open"), std::string::npos);
}

class PlaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status err;
    mem = GuestMemory::create(16 << 20, &err);
    ASSERT_TRUE(mem) << err.message();
    ASSERT_TRUE(parse(good(), &img.kernel));
  }
  std::unique_ptr<GuestMemory> mem;
  GuestImage img;
};

std::vector<uint8_t> tiny_archive() {
  std::vector<uint8_t> a(sizeof(vtb_archive_header) + 8, 0xab);
  vtb_archive_header h{VTB_ARCHIVE_MAGIC, 0};
  std::memcpy(a.data(), &h, sizeof h);
  return a;
}

TEST_F(PlaceTest, PlacesKernelArchiveBootInfoAndTables) {
  img.archive = tiny_archive();
  img.cmdline = "forkwait 1000";
  BootImage boot;
  ASSERT_TRUE(place_image(img, *mem, &boot));
  EXPECT_EQ(boot.entry, kV);
  EXPECT_EQ(boot.loader_cr3, VTB_LOADER_PT_GPA);
  EXPECT_EQ(mem->host()[kP], 0xf4);
  EXPECT_EQ(mem->host()[kP + 0x10000 + 3], 4);
  vtb_boot_info bi;
  ASSERT_TRUE(mem->read_obj(VTB_BOOTINFO_GPA, &bi));
  EXPECT_EQ(bi.magic, VTB_BOOT_MAGIC);
  EXPECT_EQ(bi.mem_bytes, 16u << 20);
  EXPECT_STREQ(bi.cmdline, "forkwait 1000");
  EXPECT_EQ(bi.archive_size, img.archive.size());
  EXPECT_EQ(bi.archive_gpa % 4096, 0u);
  EXPECT_GE(bi.archive_gpa, kP + 0x10000 + 4);
  EXPECT_EQ(mem->host()[bi.archive_gpa + sizeof(vtb_archive_header)], 0xab);
  uint64_t pml4_16 = 0;
  mem->read_obj(VTB_LOADER_PT_GPA + 16 * 8, &pml4_16);
  EXPECT_EQ(pml4_16 & 1, 1u);
}

TEST_F(PlaceTest, RejectsSegmentOutsideMemory) {
  ASSERT_TRUE(parse(test::build_elf({{kV, 64 << 20, {0x90}, 0x10}}, kV), &img.kernel));
  BootImage boot;
  Status s = place_image(img, *mem, &boot);
  EXPECT_NE(s.message().find("outside guest memory"), std::string::npos) << s.message();
}

TEST_F(PlaceTest, RejectsSegmentOverLoaderArea) {
  ASSERT_TRUE(parse(test::build_elf({{kV, 0x7000, {0x90}, 0x10}}, kV), &img.kernel));
  BootImage boot;
  EXPECT_NE(place_image(img, *mem, &boot).message().find("loader area"), std::string::npos);
}

TEST_F(PlaceTest, RejectsBadArchive) {
  img.archive = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  BootImage boot;
  EXPECT_NE(place_image(img, *mem, &boot).message().find("bad magic"), std::string::npos);
}

TEST_F(PlaceTest, RejectsLongCommandLine) {
  img.cmdline.assign(VTB_CMDLINE_MAX, 'x');
  BootImage boot;
  EXPECT_NE(place_image(img, *mem, &boot).message().find("too long"), std::string::npos);
}

}  // namespace
}  // namespace vtb
