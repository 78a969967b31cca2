// Must not compile: 36 outputs do not split into 5 modules.
#include <scaling/layers/multiplicative_dense.hpp>
int main() { scaling::MultiplicativeDense<24, 36, 5>::Weights w; }
