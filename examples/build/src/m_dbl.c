#include "mini.h"

int m_dbl(int x) { return m_add(x) + m_add(x); }
