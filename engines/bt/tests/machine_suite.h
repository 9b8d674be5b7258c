// tags: engines|bt|tests — desc: GoogleTest fixture base: one snippet Machine per test suite (one bt runtime per process) and counter reads.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "common/counters.h"
#include "engines/bt/tests/snippet.h"

namespace vtb::bt::test {

// CRTP so that every suite has its own Machine (created before its first
// test, destroyed after its last: suites never hold two at once).
template <class Suite>
class MachineSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { m_ = new Machine(); }
  static void TearDownTestSuite() {
    delete m_;
    m_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(m_->ok()) << m_->error;
    memset(m_->data(), 0, 0x10000);
  }
  uint64_t counter(const std::string& name) {
    Counters c;
    m_->rt->stats(c);
    return c.get(name);
  }
  static inline Machine* m_ = nullptr;
};

}  // namespace vtb::bt::test
