#include "mini.h"

int m_abs(int x) { return x < 0 ? -x : x; }
