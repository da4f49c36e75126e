#include "mini.h"

int m_min(int x) { return x < 100 ? x : 100; }
