// tags: engines|kvm|tests — desc: tiny guest builders (machine code bytes) and the minimal exit loop.
#include "engines/kvm/tests/tiny_guest.h"

#include <cstring>

#include "common/clock.h"
#include "common/loader.h"

namespace vtb::kvm::testing {

namespace {
void patch32(std::vector<uint8_t>& c, size_t at, uint32_t v) { std::memcpy(&c[at], &v, 4); }
}  // namespace

std::vector<uint8_t> out_loop(uint32_t n) {
  std::vector<uint8_t> c = {
      0xb9, 0, 0, 0, 0,  // mov ecx, n
      0xe6, 0x80,        // 1: out 0x80, al
      0xff, 0xc9,        // dec ecx
      0x75, 0xfa,        // jnz 1b
      0x31, 0xc0,        // xor eax, eax
      0xe7, 0xf4,        // out 0xf4, eax
      0xfa, 0xf4,        // cli; hlt
  };
  patch32(c, 1, n);
  return c;
}

std::vector<uint8_t> phased_out_loop(uint32_t n) {
  std::vector<uint8_t> c;
  auto ctrl = [&c](const char* s) {
    for (; *s; ++s) c.insert(c.end(), {0xb0, uint8_t(*s), 0xe6, 0xe9});  // mov al, ch; out 0xe9, al
  };
  ctrl("B 1\n");
  const size_t loop = c.size();
  c.insert(c.end(), {0xb9, 0, 0, 0, 0, 0xe6, 0x80, 0xff, 0xc9, 0x75, 0xfa});  // mov ecx, n; 1: out; dec; jnz 1b
  patch32(c, loop + 1, n);
  ctrl("E 1\n");
  c.insert(c.end(), {0x31, 0xc0, 0xe7, 0xf4, 0xfa, 0xf4});  // xor eax,eax; out 0xf4,eax; cli; hlt
  return c;
}

std::vector<uint8_t> mmio_loop(uint32_t n) {
  std::vector<uint8_t> c = {
      0xb9, 0, 0, 0, 0,                          // mov ecx, n
      0x48, 0xc7, 0xc7, 0, 0, 0, 0,              // mov rdi, kMmioGpa
      0xb8, 0x5a, 0x5a, 0x5a, 0x5a,              // mov eax, 0x5a5a5a5a
      0x89, 0x07,                                // 2: mov [rdi], eax
      0xff, 0xc9,                                // dec ecx
      0x75, 0xfa,                                // jnz 2b
      0x8b, 0x07,                                // mov eax, [rdi]
      0xe7, 0xf4,                                // out 0xf4, eax
      0xfa, 0xf4,                                // cli; hlt
  };
  patch32(c, 1, n);
  patch32(c, 8, static_cast<uint32_t>(kMmioGpa));
  return c;
}

std::vector<uint8_t> string_io() {
  std::vector<uint8_t> c = {
      0xbe, 0, 0, 0, 0,        // mov esi, src
      0xb9, 16, 0, 0, 0,       // mov ecx, 16
      0x66, 0xba, 0x80, 0x00,  // mov dx, 0x80
      0xf3, 0x6e,              // rep outsb
      0xbf, 0, 0, 0, 0,        // mov edi, dst
      0xb9, 8, 0, 0, 0,        // mov ecx, 8
      0xf3, 0x6c,              // rep insb
      0x31, 0xc0,              // xor eax, eax
      0xe7, 0xf4,              // out 0xf4, eax
      0xfa, 0xf4,              // cli; hlt
  };
  patch32(c, 1, static_cast<uint32_t>(string_src_gpa()));
  patch32(c, 17, static_cast<uint32_t>(string_dst_gpa()));
  return c;
}

std::vector<uint8_t> triple_fault() { return {0x0f, 0x0b}; }
std::vector<uint8_t> spin() { return {0xeb, 0xfe}; }
std::vector<uint8_t> unmapped_gva() {
  return {0x48, 0xb8, 0, 0, 0, 0x80, 0, 0, 0, 0,  // movabs rax, 0x80000000
          0x8b, 0x00,                             // mov eax, [rax]
          0xf4};
}

std::vector<uint8_t> halt_loop(uint32_t n) {
  std::vector<uint8_t> c = {
      0x48, 0xc7, 0xc0, 0, 0, 0, 0,  // mov rax, idtr
      0x0f, 0x01, 0x18,              // lidt [rax]
      0xb9, 0, 0, 0, 0,              // mov ecx, n
      0xfb, 0xf4,                    // 3: sti; hlt
      0xff, 0xc9,                    // dec ecx
      0x75, 0xfa,                    // jnz 3b
      0xfa,                          // cli
      0x31, 0xc0,                    // xor eax, eax
      0xe7, 0xf4,                    // out 0xf4, eax
      0xf4,                          // hlt
      // handler (offset 27):
      0x48, 0xc7, 0xc0, 0, 0, 0, 0,  // mov rax, counter
      0x48, 0xff, 0x00,              // inc qword [rax]
      0x48, 0xcf,                    // iretq
  };
  patch32(c, 3, static_cast<uint32_t>(kDataGpa + 0x400));  // idtr
  patch32(c, 11, n);
  patch32(c, 30, static_cast<uint32_t>(halt_counter_gpa()));
  return c;
}

Status TinyGuest::build(const std::vector<uint8_t>& code, size_t mem_mib) {
  Status err;
  mem = GuestMemory::create(mem_mib << 20, &err);
  if (!mem) return err;
  GuestImage img;
  img.kernel.bytes = code;
  img.kernel.entry = kCodeGpa;
  ElfSegment seg;
  seg.vaddr = seg.paddr = kCodeGpa;
  seg.filesz = seg.memsz = code.size();
  seg.file_offset = 0;
  seg.flags = 5;  // R|X
  img.kernel.segments.push_back(seg);
  if (Status s = place_image(img, *mem, &boot); !s) return s;
  // IDT at kDataGpa: vector 0x20 -> the halt guest's handler (offset 27),
  // an interrupt gate (type 0xe, present, DPL 0) on the loader's code64 selector.
  const uint64_t handler = kCodeGpa + 27;
  uint8_t gate[16] = {};
  gate[0] = handler & 0xff;
  gate[1] = (handler >> 8) & 0xff;
  gate[2] = 0x08;
  gate[5] = 0x8e;
  gate[6] = (handler >> 16) & 0xff;
  gate[7] = (handler >> 24) & 0xff;
  mem->write(kDataGpa + 0x20 * 16, gate, sizeof gate);
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } idtr{256 * 16 - 1, kDataGpa};
  mem->write(kDataGpa + 0x400, &idtr, sizeof idtr);
  mem->write(string_src_gpa(), "0123456789abcdef", 16);
  return Status::ok();
}

void PeriodicIrq::update(uint64_t now_ns) {
  if (next_ && now_ns >= next_) {
    if (!pending_) ++raised_;
    pending_ = true;
    while (next_ <= now_ns) next_ += period_;
  }
}

int PeriodicIrq::acknowledge() {
  if (!pending_) return -1;
  pending_ = false;
  ++acked_;
  return 0x20;
}

bool drive(Engine& e, RunLog* log, std::chrono::milliseconds wall, uint64_t mmio_read_value,
           uint8_t port_read_byte) {
  const uint64_t deadline = monotonic_ns() + uint64_t(std::chrono::nanoseconds(wall).count());
  for (;;) {
    const uint64_t now = monotonic_ns();
    RunLimits lim;
    lim.wall = std::chrono::nanoseconds(now < deadline ? deadline - now : 1);
    Exit x = e.run(lim);
    switch (x.kind) {
      case ExitKind::PortIo:
        if (x.is_write) {
          log->port_writes[x.port] += x.count;
          if (x.port == kLoopPort && x.size == 1) log->loop_port_bytes.append(reinterpret_cast<char*>(x.data), x.count);
          if (x.port == kDonePort) {
            uint32_t v = 0;
            std::memcpy(&v, x.data, x.size < 4 ? x.size : 4);
            log->done_value = v;
            log->last = x;
            return true;
          }
        } else {
          log->port_reads[x.port] += x.count;
          std::memset(x.data, port_read_byte, size_t(x.size) * x.count);
        }
        e.complete(x);
        break;
      case ExitKind::Mmio:
        if (x.is_write) {
          ++log->mmio_writes;
        } else {
          ++log->mmio_reads;
          std::memcpy(x.data, &mmio_read_value, x.size <= 8 ? x.size : 8);
        }
        e.complete(x);
        break;
      case ExitKind::Halt:
        ++log->halts;  // the engine waits for the next interrupt itself
        break;
      default:
        log->last = x;
        return false;
    }
  }
}

}  // namespace vtb::kvm::testing
