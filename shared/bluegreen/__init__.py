"""bluegreen: event-driven blue-green deployments of bots on AWS Elastic Beanstalk."""

__version__ = "0.1.0"
