#include "mini.h"

int m_add(int x) { return x + 1; }
