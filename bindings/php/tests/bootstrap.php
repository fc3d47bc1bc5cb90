<?php

declare(strict_types=1);

require __DIR__ . '/../autoload.php';
require __DIR__ . '/Support.php';

// The environment of the shell must not leak a Redis or a key into the tests:
// each test says which Redis it talks to.
putenv('CACHEKIT_REDIS_URL');
putenv('REDIS_URL');
putenv('CACHEKIT_MASTER_KEY');
