// tags: harness|cli — desc: CLI11 parsing shared by the subcommands: help on stdout, one-line usage errors, exit 2.
#include "harness/cli_parse.h"

#include <cstdio>
#include <string>

#include "harness/commands.h"
#include "harness/runner.h"

namespace vtb::cli {

void error_line(const std::string& msg) {
  std::string m = msg;
  for (char& c : m)
    if (c == '\n' || c == '\r') c = ' ';
  fprintf(stderr, "vtb: %s\n", m.c_str());
}

void init_app(CLI::App& app) {
  app.get_formatter()->column_width(34);
}

int parse_cli(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::printf("%s\n", e.what());
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::fputs(app.help("", CLI::AppFormatMode::All).c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string cmd = app.get_name();  // "vtb run"
    if (cmd.rfind("vtb ", 0) == 0) cmd = cmd.substr(4);
    std::string what = e.what();
    if (dynamic_cast<const CLI::ExtrasError*>(&e) && !app.remaining().empty()) {
      what = "unknown option '" + app.remaining().front() + "'";
    } else if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {
      what = "option " + what.substr(0, what.find(':')) + " needs a value";  // "--engine: 1 required TEXT missing"
    }
    if (cmd == "vtb") error_line(what + " (vtb --help)");
    else error_line(cmd + ": " + what + " (vtb " + cmd + " --help)");
    return kExitBadInput;
  }
}

}  // namespace vtb::cli
