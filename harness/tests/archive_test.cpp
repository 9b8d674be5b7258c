// tags: harness|tests — desc: program-archive validation (good archive, each kind of damage).
#include <gtest/gtest.h>

#include <cstring>

#include "common/abi/vtb_abi.h"
#include "harness/runner_internal.h"

namespace vtb::harness {
namespace {

std::vector<uint8_t> make_archive(const std::vector<std::pair<std::string, std::string>>& files) {
  vtb_archive_header h{VTB_ARCHIVE_MAGIC, uint32_t(files.size())};
  std::vector<uint8_t> out(sizeof h + files.size() * sizeof(vtb_archive_entry));
  memcpy(out.data(), &h, sizeof h);
  for (size_t i = 0; i < files.size(); ++i) {
    while (out.size() % 16) out.push_back(0);
    vtb_archive_entry e{};
    strncpy(e.name, files[i].first.c_str(), sizeof e.name - 1);
    e.offset = out.size();
    e.size = files[i].second.size();
    memcpy(out.data() + sizeof h + i * sizeof e, &e, sizeof e);
    out.insert(out.end(), files[i].second.begin(), files[i].second.end());
  }
  return out;
}

TEST(Archive, AcceptsAGoodArchive) {
  auto a = make_archive({{"hello", "ELF..."}, {"forkwait", "xyz"}});
  std::vector<std::string> names;
  ASSERT_TRUE(validate_archive(a, "a.vtba", &names));
  EXPECT_EQ(names, (std::vector<std::string>{"hello", "forkwait"}));
}

TEST(Archive, RejectsEachKindOfDamage) {
  std::vector<std::string> names;
  auto a = make_archive({{"hello", "ELF..."}});
  EXPECT_NE(validate_archive({1, 2, 3}, "a", &names).message().find("truncated header"), std::string::npos);
  auto bad_magic = a;
  bad_magic[0] ^= 0xff;
  EXPECT_NE(validate_archive(bad_magic, "a", &names).message().find("bad magic"), std::string::npos);
  auto short_table = a;
  short_table.resize(sizeof(vtb_archive_header) + 8);
  EXPECT_NE(validate_archive(short_table, "a", &names).message().find("entry table"), std::string::npos);
  auto cut_blob = a;
  cut_blob.resize(cut_blob.size() - 2);
  EXPECT_NE(validate_archive(cut_blob, "a", &names).message().find("outside the file"), std::string::npos);
  auto no_nul = a;
  memset(no_nul.data() + sizeof(vtb_archive_header), 'x', VTB_ARCHIVE_NAME_MAX);
  EXPECT_NE(validate_archive(no_nul, "a", &names).message().find("no valid name"), std::string::npos);
  for (const auto* b : {&bad_magic, &short_table, &cut_blob, &no_nul})
    EXPECT_EQ(validate_archive(*b, "a", &names).kind(), ErrorKind::BadInput);
}

}  // namespace
}  // namespace vtb::harness
