// Installed-package consumer: must compile against the umbrella header alone.
#include <scaling/scaling.hpp>

#include <cstdio>

static_assert(__cplusplus >= 202002L, "scaling requires C++20");

int main() {
#if defined(SCALING_VERSION_STRING)
  std::printf("scaling consumer OK (scaling %s)\n", SCALING_VERSION_STRING);
#else
  std::puts("scaling consumer OK");
#endif
  return 0;
}
