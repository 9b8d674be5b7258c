// tags: harness|peers — desc: the qemu-tcg peer: the same tbk.elf + archive + command line under qemu-system-x86_64 -accel tcg.
//
// Console: the serial port (QEMU's stdout). Control channel: isa-debugcon at
// VTB_PORT_CTRL into a pipe, each line stamped on arrival. Exit code:
// isa-debug-exit at VTB_PORT_EXIT (QEMU's status = (code << 1) | 1).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/abi/vtb_abi.h"
#include "common/guest_memory.h"
#include "common/loader.h"
#include "harness/peer_process.h"
#include "harness/runner_internal.h"

namespace vtb::harness {
namespace {

std::string hex(unsigned v) {
  char b[16];
  snprintf(b, sizeof b, "0x%x", v);
  return b;
}

bool executable(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

// The last stderr line that is not a warning: QEMU's own error, if any.
std::string qemu_error_line(const std::string& err) {
  std::istringstream in(err);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty() && line.find("warning") == std::string::npos) last = line;
  return last;
}

}  // namespace

// `qemu --version` must say it is QEMU: a wrong VTB_QEMU (say /bin/false,
// which exits 1 like a guest that wrote 0 to isa-debug-exit) would otherwise
// be read as guest exit code 0.
Status check_is_qemu(const std::string& path) {
  PeerSpawn spec;
  spec.argv = {path, "--version"};
  spec.ctrl_fd = -1;
  spec.stderr_to_console = true;
  spec.timeout = std::chrono::milliseconds(10000);
  const PeerOutcome o = run_peer(spec);
  if (!o.spawned) return Status::unavailable(path + ": cannot start: " + o.error);
  if (!o.exited || o.exit_status != 0 || o.console.find("QEMU emulator version") == std::string::npos)
    return Status::unavailable(path + " is not QEMU (`--version` did not say \"QEMU emulator version\")");
  return Status::ok();
}

Status qemu_available(std::string* path) {
  const char* env = getenv("VTB_QEMU");
  if (env && *env) {
    if (!executable(env)) return Status::unavailable(std::string("VTB_QEMU=") + env + " is not an executable file");
    if (Status s = check_is_qemu(env); !s) return Status::unavailable(std::string("VTB_QEMU: ") + s.message());
    *path = env;
    return Status::ok();
  }
  const char* pathenv = getenv("PATH");
  std::string dirs = pathenv && *pathenv ? pathenv : "/usr/local/bin:/usr/bin:/bin";
  std::istringstream in(dirs);
  for (std::string d; std::getline(in, d, ':');) {
    std::string p = (d.empty() ? "." : d) + "/qemu-system-x86_64";
    if (executable(p)) {
      *path = p;
      return Status::ok();
    }
  }
  return Status::unavailable("qemu-system-x86_64 not found in PATH (Debian package qemu-system-x86)");
}

void run_on_qemu(const Prepared& p, RunReport* r) {
  std::string qemu;
  if (Status s = qemu_available(&qemu); !s) return fail(r, s);
  // The image must fit this guest memory under the same rules as on the
  // engines (segments inside RAM, archive placement, memory size): bad input
  // is exit 2 here too, not a QEMU error or a guest crash. A sparse memfd:
  // only the kernel and archive pages are touched.
  {
    GuestImage img;
    img.flavor = Flavor::Native;
    img.cmdline = p.command_line;
    img.kernel = p.kernel;
    img.archive = p.archive;
    Status err;
    std::unique_ptr<GuestMemory> mem = GuestMemory::create(p.mem_mib << 20, &err);
    if (!mem) return fail(r, err.is_ok() ? Status::host_error("guest memory for the image check") : err);
    BootImage boot;
    if (Status s = place_image(img, *mem, &boot); !s) return fail(r, s);
  }

  // SeaBIOS stays off the serial port when fw_cfg etc/sercon-port holds 0.
  char sercon[] = "/tmp/vtb-sercon-XXXXXX";
  int sfd = mkstemp(sercon);
  if (sfd < 0) return fail(r, Status::host_error(std::string("mkstemp: ") + strerror(errno)));
  const char zeros[2] = {0, 0};
  bool wrote = write(sfd, zeros, 2) == 2;
  close(sfd);
  struct Unlink {
    const char* p;
    ~Unlink() { unlink(p); }
  } cleanup{sercon};
  if (!wrote) return fail(r, Status::host_error(std::string("cannot write ") + sercon));

  PeerSpawn spec;
  // The reference-machine command line of docs/kernel.md: a PC (-M pc: the
  // PIT's IRQ 0 reaches the CPU through the 8259), the kernel through its PVH
  // note, the archive as PVH module 0 (-initrd), the control channel from
  // isa-debugcon into our pipe (fd 3), the exit code through isa-debug-exit.
  spec.argv = {qemu,
               "-M", "pc",
               "-accel", "tcg",
               "-cpu", "max",
               "-m", std::to_string(p.mem_mib) + "M",
               "-smp", "1",
               "-nodefaults", "-nographic", "-no-reboot",
               "-monitor", "none",
               "-serial", "stdio",
               "-device", "isa-debug-exit,iobase=" + hex(VTB_PORT_EXIT) + ",iosize=4",
               "-chardev", "file,id=vtbctl,path=/proc/self/fd/3",
               "-device", "isa-debugcon,iobase=" + hex(VTB_PORT_CTRL) + ",chardev=vtbctl",
               "-fw_cfg", std::string("name=etc/sercon-port,file=") + sercon,
               "-kernel", p.kernel_path,
               "-initrd", p.archive_path,
               "-append", p.command_line};
  if (const char* extra = getenv("VTB_QEMU_EXTRA"); extra && *extra) {
    std::istringstream in(extra);
    for (std::string w; in >> w;) spec.argv.push_back(w);
  }
  spec.ctrl_fd = 3;
  spec.timeout = p.timeout;
  spec.echo_console = p.echo_console;
  PeerOutcome o = run_peer(spec);
  RunResult& res = r->result;
  copy_peer_output(o, &res);
  if (!o.spawned) return fail(r, Status::host_error("cannot start " + qemu + ": " + o.error));
  if (!o.error.empty()) return fail(r, Status::host_error(o.error));
  if (o.timed_out) {
    res.outcome = Outcome::LimitReached;
    res.message = "wall-clock limit reached (" + std::to_string(p.timeout.count()) + " ms); QEMU killed";
    return;
  }
  if (!o.exited) {
    res.outcome = Outcome::EngineError;
    res.message = "QEMU died from signal " + std::to_string(o.term_signal);
    return;
  }
  const std::string qerr = qemu_error_line(o.err);
  if (o.exit_status == 0) {
    // -no-reboot: a triple fault or reset ends QEMU with status 0.
    res.outcome = Outcome::Shutdown;
    res.message = "guest reset or triple fault (QEMU exited without a guest exit code)";
    return;
  }
  if ((o.exit_status & 1) && !(o.exit_status == 1 && !qerr.empty())) {
    res.outcome = Outcome::Exited;
    res.exit_code = o.exit_status >> 1;
    return;
  }
  res.outcome = Outcome::EngineError;
  res.message = "QEMU failed (status " + std::to_string(o.exit_status) + ")" + (qerr.empty() ? "" : ": " + qerr);
}

}  // namespace vtb::harness
