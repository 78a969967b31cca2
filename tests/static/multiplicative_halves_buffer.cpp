// Must not compile: a layer with a 1 MiB D splits its inputs in halves and needs a buffer for the
// second half's sums, which this call does not pass.
#include <scaling/layers/multiplicative_dense.hpp>
int main() {
  const scaling::MultiplicativeDense<4096, 1024, 64>::Weights* w = nullptr;
  float x[4096];
  float y[1024];
  scaling::MultiplicativeDense<4096, 1024, 64>::apply(scaling::Team::solo(), *w, x, 1, y);
}
