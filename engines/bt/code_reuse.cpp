// tags: engines|bt — desc: translations shared between address spaces: code keys bound at cr3 loads (a fork child runs its parent's blocks), frame-precise invalidation, blocks set aside when their frame is written and adopted where the same bytes come back (exec).
#include <algorithm>
#include <cstring>

#include "engines/bt/layout.h"
#include "engines/bt/runtime.h"

namespace vtb::bt {

namespace {
constexpr uint64_t kPage = 0x1000;
constexpr uint64_t kSetAside = 2;                   // Block::space of a set-aside block (keys are odd, 0 kernel)
constexpr size_t kSetAsidePerPc = 4;                // variants kept per pc (oldest dropped)
}  // namespace

// User-range blocks are keyed by a code key, not by cr3: a key's blocks are
// good in every address space that maps each of the key's code pages to the
// frame they were translated from, because those frames are write-tracked
// (a write sets their blocks aside first). So a load of cr3 binds the space
// to its key from before when that still holds, or to any key for which it
// holds (a fork child: its code pages are its parent's frames), or to a new
// key. A key's blocks are never dropped because another space maps its pages
// differently: that space just uses another key.
bool Runtime::key_matches(uint64_t key) {
  auto sc = space_code_.find(key);
  if (sc == space_code_.end()) return true;
  for (const auto& [page, cp] : sc->second) {
    uint64_t gpa;
    if (cp.frame == kAnyFrame || !mem_->code_frame(page, cp.user, &gpa) || gpa != cp.frame) return false;
  }
  return true;
}

void Runtime::on_cr3_change() {
  const uint64_t before = cur_key_;
  bind_space();
  // The indirect-branch table's user entries are blocks of the previous key;
  // a switch between spaces of one key (a parent and its fork children) keeps them.
  if (cur_key_ != before || !opt_.reflect_exceptions) ibtc_clear_user();
}

void Runtime::bind_space() {
  if (!opt_.reflect_exceptions) return;  // no user keys (space_of is 0)
  const uint64_t root = cpu_.cr3 & ~(kPage - 1);
  auto bound = root_key_.find(root);
  if (bound != root_key_.end() && space_code_.count(bound->second) && key_matches(bound->second)) {
    cur_key_ = bound->second;
    return;
  }
  // A new root, one freed by a process and reused by another (whose code
  // pages map other frames), or one whose key has no code pages left (its
  // frames were written: the process is gone): the key with the most code
  // pages that all match, else the bound key when it matches, else a new one.
  const uint64_t was = bound != root_key_.end() ? bound->second : 0;
  uint64_t best = 0;
  size_t best_pages = 0;
  for (const auto& [key, pages] : space_code_)
    if (key != was && pages.size() > best_pages && key_matches(key)) {
      best = key;
      best_pages = pages.size();
    }
  if (best) {
    ++st_.space_shared;
  } else if (was && !space_code_.count(was)) {
    best = was;  // its own key, empty
  } else {
    best = next_key_;
    next_key_ += 2;
    ++st_.space_new;
  }
  root_key_[root] = best;
  cur_key_ = best;
}

// The frames of a new (or adopted) block's pages in the current space, and
// its key's record of them. A key page that maps another frame here than the
// one the key's blocks came from (remapped without a cr3 load) loses those.
void Runtime::record_code_pages(Block* b) {
  for (int i = 0; i < b->npages(); ++i) {
    const uint64_t p = b->page(i);
    uint64_t gpa;
    b->frame[i] = mem_->code_frame(p, b->user, &gpa) ? gpa : kAnyFrame;
    // Not fetchable: only a block whose first instruction cannot be fetched
    // (its fetch-fault exit checks the page again when it runs). Recording it
    // would make the key match no space ever again.
    if (!b->space || b->frame[i] == kAnyFrame) continue;
    auto& pages = space_code_[b->space];
    auto it = pages.find(p);
    if (it == pages.end()) {
      pages.emplace(p, CodePage{b->frame[i], b->user});
      continue;
    }
    if (it->second.frame != b->frame[i]) {
      drop_key_page(b->space, p, b->frame[i]);
      it->second.frame = b->frame[i];
    }
    it->second.user |= b->user;
  }
  if (b->npages() == 1) b->frame[1] = b->frame[0];
}

// Drop the blocks of `key` on `page` that came from another frame than keep_frame.
void Runtime::drop_key_page(uint64_t key, uint64_t page, uint64_t keep_frame) {
  auto m = by_pc_.find(key);
  if (m == by_pc_.end()) return;
  std::vector<Block*> dead;
  for (const auto& [pc, b] : m->second)
    for (int i = 0; i < b->npages(); ++i)
      if (b->page(i) == page && (b->frame[i] != keep_frame || keep_frame == kAnyFrame)) {
        dead.push_back(b);
        break;
      }
  for (Block* b : dead) {
    drop_block(b);
    ++st_.tc_stale_space;
  }
}

void Runtime::code_page_check(uint64_t va) {
  const uint64_t key = space_of(va);
  auto sc = space_code_.find(key);
  if (!key || sc == space_code_.end()) return;
  const uint64_t page = va & ~(kPage - 1);
  auto it = sc->second.find(page);
  if (it == sc->second.end()) return;
  uint64_t gpa;
  if (mem_->code_frame(page, it->second.user, &gpa) && gpa == it->second.frame) return;
  sc->second.erase(it);
  drop_key_page(key, page, kAnyFrame);
}

void Runtime::code_frame_written(uint64_t gpa_page, const std::vector<uint64_t>& va_pages) {
  auto listed = [&](uint64_t p) { return std::find(va_pages.begin(), va_pages.end(), p) != va_pages.end(); };
  std::vector<Block*> hit;
  for (const auto& [key, m] : by_pc_)
    for (const auto& [pc, b] : m)
      for (int i = 0; i < b->npages(); ++i)
        if ((b->frame[i] == gpa_page || b->frame[i] == kAnyFrame) && listed(b->page(i))) {
          hit.push_back(b);
          break;
        }
  for (Block* b : hit) {
    const bool known = b->frame[0] != kAnyFrame && b->frame[1] != kAnyFrame;
    if (b->space && known && !b->src.empty()) set_aside(b);
    else drop_block(b);
  }
  for (auto sc = space_code_.begin(); sc != space_code_.end();) {
    for (uint64_t p : va_pages) {
      auto it = sc->second.find(p);
      if (it != sc->second.end() && it->second.frame == gpa_page) sc->second.erase(it);
    }
    sc = sc->second.empty() ? space_code_.erase(sc) : std::next(sc);
  }
}

// Out of its key, unchained both ways, kept by pc (counted as invalidated:
// the dispatcher never resumes in it).
void Runtime::set_aside(Block* b) {
  drop_block(b);
  b->valid = true;
  b->space = kSetAside;  // chain() never links it (no key has this value)
  CodeCache& cc = user_tc_.contains(b->tc) ? user_tc_ : kernel_tc_;
  for (size_t i = 0; i < b->outgoing_sites.size(); ++i) {
    const uint64_t site = b->outgoing_sites[i];
    const int32_t r32 = int32_t(int64_t(b->outgoing_stub[i]) - int64_t(site + 4));
    memcpy(cc.writable(site), &r32, 4);
  }
  auto& v = orphans_[b->pc];
  if (v.size() >= kSetAsidePerPc) {
    v.front()->valid = false;
    v.erase(v.begin());
  }
  v.push_back(b);
  ++st_.tc_set_aside;
}

// A set-aside block at pc whose source bytes the current space has again
// (same addresses, same privilege): it joins the current key.
Block* Runtime::adopt(uint64_t pc, bool user) {
  auto o = orphans_.find(pc);
  if (o == orphans_.end()) return nullptr;
  auto& v = o->second;
  for (size_t k = v.size(); k-- > 0;) {
    Block* b = v[k];
    if (!b->valid || b->user != user) continue;  // dropped while aside (a fetch fault re-check)
    adopt_buf_.resize(b->src.size());
    if (mem_->fetch(pc, adopt_buf_.data(), adopt_buf_.size(), user) != adopt_buf_.size() ||
        memcmp(adopt_buf_.data(), b->src.data(), b->src.size()) != 0)
      continue;
    v.erase(v.begin() + ptrdiff_t(k));
    if (v.empty()) orphans_.erase(o);
    b->space = space_of(pc);
    record_code_pages(b);
    by_pc_[b->space][pc] = b;
    ++st_.tc_reused;
    return b;
  }
  return nullptr;
}

void Runtime::forget_orphans(uint64_t va, uint64_t len) {
  for (auto o = orphans_.begin(); o != orphans_.end();) {
    auto& v = o->second;
    for (size_t k = v.size(); k-- > 0;)
      if (v[k]->pc < va + len && va < v[k]->src_end) {
        v[k]->valid = false;
        v.erase(v.begin() + ptrdiff_t(k));
      }
    o = v.empty() ? orphans_.erase(o) : std::next(o);
  }
}

}  // namespace vtb::bt
