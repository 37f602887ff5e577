#include <gtest/gtest.h>

#include "backend/init.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  sdpp::init_backends();
  return RUN_ALL_TESTS();
}
