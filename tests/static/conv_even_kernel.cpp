// Must not compile: a module kernel of 2 has no centre (trax pads (Ks - 1) / 2 on each side).
#include <scaling/layers/local_conv.hpp>
int main() { scaling::LocalConv<4, 8, 8, 2, 3>::Weights w; }
