// add_subdirectory() consumer: must compile against the umbrella header alone.
#include <scaling/scaling.hpp>

#include <cstdio>

static_assert(__cplusplus >= 202002L, "scaling requires C++20");

int main() {
  std::puts("scaling subdir consumer OK");
  return 0;
}
