// Runs the `denseshift` binary the way a user does and captures what it prints: the CLI tests
// check exit codes and messages, which no library-level test sees.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/temp_dir.h"

namespace ds::testing {

struct CliResult {
  int rc = -1;      // exit status; 128 + N for a death by signal N
  std::string out;  // stdout and stderr, interleaved as printed
  bool has(const std::string& s) const { return out.find(s) != std::string::npos; }
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `binary` with `args`, stdin from /dev/null, bounded by `timeout_s`.
inline CliResult run_binary(const std::string& binary, const std::vector<std::string>& args, int timeout_s = 300,
                            const std::string& env = "") {
  std::string cmd = env + (env.empty() ? "" : " ") + "timeout -s KILL " + std::to_string(timeout_s) + " " +
                    shell_quote(binary);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " </dev/null 2>&1";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// DS_CLI_BINARY (set by CMake): `denseshift`.
inline CliResult run_cli(const std::vector<std::string>& args, int timeout_s = 300, const std::string& env = "") {
  return run_binary(DS_CLI_BINARY, args, timeout_s, env);
}

#ifdef DS_RUN_BINARY
// DS_RUN_BINARY: `denseshift-run`, the deployment commands without libtorch.
inline CliResult run_deploy_cli(const std::vector<std::string>& args, int timeout_s = 300) {
  return run_binary(DS_RUN_BINARY, args, timeout_s);
}
#endif

struct CliTempDir : TempDirBase {
  CliTempDir() : TempDirBase("denseshift_cli") {}
};

}  // namespace ds::testing
