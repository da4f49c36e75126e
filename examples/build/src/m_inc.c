#include "mini.h"

int m_inc(int x) { return m_add(m_add(x)); }
