// Temporary entry point while the app layer is being written (replaced by the CLI/modes code).
#include <cstdio>
int main() { std::fputs("sdxl-worker: not assembled yet\n", stderr); return 1; }
