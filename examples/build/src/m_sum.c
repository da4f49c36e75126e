#include "mini.h"

int m_sum(int x) { int s = 0; for (int i = 1; i <= x; i++) s += i; return s; }
