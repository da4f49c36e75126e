#include "mini.h"

int m_sq(int x) { return x * x; }
