"""Dev-only tooling for bluegreen: the moto Elastic Beanstalk extension and the local stack. Never shipped."""
