#include "mini.h"

int m_max(int x) { return x > 10 ? x : 10; }
