#include "mini.h"

int m_mod(int x) { return x % 7; }
