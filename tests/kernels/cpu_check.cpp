// Exits with 0 when this CPU has every instruction-set extension this file was compiled to allow
// (the -march of a kernel test executable), else 1: tests/CMakeLists.txt runs each kernel test
// executable only where it can. Checked at configure time, because test discovery runs the
// executable at build time, and doctest's own code, compiled with that -march, may use any of them.
int main() {
  bool ok = true;
#ifdef __SSE4_2__
  ok = ok && __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
#endif
#ifdef __AVX2__
  ok = ok && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
       __builtin_cpu_supports("bmi2");
#endif
#ifdef __AVX512F__
  ok = ok && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd");
#endif
#ifdef __AVX512VNNI__
  ok = ok && __builtin_cpu_supports("avx512vnni");
#endif
  return ok ? 0 : 1;
}
